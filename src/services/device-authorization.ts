import {
  DEVICE_CODE_INTERVAL,
  DEVICE_CODE_SLOW_DOWN_STEP,
  DEVICE_CODE_TTL,
  DEVICE_VERIFICATION_PATH,
  USER_CODE_ALPHABET,
  USER_CODE_LENGTH,
} from '../config';
import type { Deps } from '../deps';
import { PageError } from '../errors';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { type NetworkKey, networkKey } from '../lib/network';
import { guardedClientQuery } from '../storage/clients';
import { isUniqueViolation } from '../storage/db';
import {
  auditOfDecisionStatement,
  type DeviceAuthorizationWithClient,
  decideStatement,
  findByUserCode,
  grantOfDecisionStatement,
  insertDeviceAuthorizationStatement,
  linkGrantOfDecisionStatement,
  type PollInput,
  pollStateQuery,
  recordPollStatement,
  redeemStatement,
  refreshTokenFromDeviceStatement,
  touchGrantOfDeviceStatement,
} from '../storage/device-authorizations';
import { recordProofOfClientStatement } from '../storage/dpop-proofs';
import { findGrant } from '../storage/grants';
import type { Client, DeviceAuthorization } from '../storage/schema';
import type { SessionInfo } from '../storage/sessions';
import { widenedScope } from './authorization';
import { inClientBatch, type PendingClient } from './client-authentication';
import type { DpopProof } from './dpop';
import { countAttempt } from './rate-limits';
import { defaultResourceUri, storedResources } from './resources';
import { userClaims } from './scopes';

// The device authorization grant (RFC 8628) in three parts: the device asks
// (startDeviceAuthorization: a device code for it, a user code for the
// person), the person answers on /device (lookUpUserCode, answerUserCode),
// and the device polls the token endpoint (pollDeviceAuthorization). The
// answer shares the authorization code flow's grant (one per user and
// client, widened to every scope approved), its consent audit event and its
// claims; the poll redeems once, in D1, like a code.

/** RFC 8628 §3.2: the device authorization response. */
export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/**
 * A fresh user code: USER_CODE_LENGTH characters from USER_CODE_ALPHABET
 * (RFC 8628 §6.1), drawn without bias: a random byte is used only below the
 * largest multiple of the alphabet's size (240 for 20), so every character is
 * equally likely.
 */
export function newUserCode(): string {
  const limit = 256 - (256 % USER_CODE_ALPHABET.length);
  let code = '';
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(USER_CODE_LENGTH * 2))) {
      if (byte < limit && code.length < USER_CODE_LENGTH) code += USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length];
    }
  }
  return code;
}

/**
 * A typed user code as stored: upper case, without the dash, spaces or
 * anything else people put between characters (RFC 8628 §6.1: compare case-
 * and punctuation-insensitively). Null when what is left cannot be a user code.
 */
export function normalizeUserCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s\-–—_.]/g, '');
  if (code.length !== USER_CODE_LENGTH) return null;
  for (const character of code) if (!USER_CODE_ALPHABET.includes(character)) return null;
  return code;
}

/** A normalized user code as people read it: XXXX-XXXX (RFC 8628 §6.1). */
export function formatUserCode(code: string): string {
  const half = Math.ceil(code.length / 2);
  return `${code.slice(0, half)}-${code.slice(half)}`;
}

/** How many times a new request draws a user code that is already taken before giving up (each draw collides with odds N / 20^8). */
const USER_CODE_DRAWS = 3;

/**
 * RFC 8628 §3.1–3.2: a device authorization request, from a client already
 * authenticated and checked for the grant type, with its checked scope and
 * RFC 8707 resources (null: none named, the default).
 * Both codes are stored as SHA-256 only. A drawn user code that is already
 * taken (UNIQUE) is drawn again. Throws 429 past the client network's limit.
 */
export async function startDeviceAuthorization(
  deps: Deps,
  client: Client,
  request: { scope: readonly string[]; resource: readonly string[] | null },
  network: NetworkKey | null,
): Promise<DeviceAuthorizationResponse> {
  // Each request is a D1 row for 10 minutes, and a public client's id is no
  // secret: requests are counted per client network, like sign-ups.
  await countAttempt(deps, 'deviceAuthorizationNetwork', network ?? networkKey('unknown network'));
  for (let draw = 1; ; draw++) {
    const deviceCode = randomSecret();
    const userCode = newUserCode();
    const time = now();
    const [deviceCodeHash, userCodeHash] = await Promise.all([hashSecret(deviceCode), hashSecret(userCode)]);
    try {
      await insertDeviceAuthorizationStatement(deps.db, {
        deviceCodeHash,
        userCodeHash,
        clientId: client.id,
        scope: request.scope.join(' '),
        resource: storedResources(deps.issuer, request.resource),
        status: 'pending',
        userId: null,
        grantId: null,
        claims: null,
        authTime: null,
        amr: null,
        decision: null,
        interval: DEVICE_CODE_INTERVAL,
        lastPolledAt: null,
        expiresAt: time + DEVICE_CODE_TTL,
        redeemedAt: null,
        redemption: null,
        createdAt: time,
      });
    } catch (error) {
      if (isUniqueViolation(error) && draw < USER_CODE_DRAWS) continue;
      throw error;
    }
    const verificationUri = deps.issuer + DEVICE_VERIFICATION_PATH;
    const shown = formatUserCode(userCode);
    return {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: verificationUri,
      // RFC 8628 §3.3.1: the code in the URI, for a QR code or a link; the page still shows it to compare.
      verification_uri_complete: `${verificationUri}?user_code=${encodeURIComponent(shown)}`,
      expires_in: DEVICE_CODE_TTL,
      interval: DEVICE_CODE_INTERVAL,
    };
  }
}

/** Who is typing a user code: their network and their account, the two things lookups are limited by. */
export interface UserCodeTypist {
  network: NetworkKey | null;
  userId: string;
}

/**
 * RFC 8628 §5.1: every user-code lookup counts against two limits, the
 * client network's and the signed-in account's (every session of it
 * together: sessions cost nothing to make, accounts a sign-up), right or
 * wrong alike, so a guess over a limit is never even looked up. Throws 429
 * (OAuthError too_many_requests) over either limit.
 */
async function countLookup(deps: Deps, typist: UserCodeTypist): Promise<void> {
  // No CF-Connecting-IP (local development): one network of its own, still counted.
  await countAttempt(deps, 'userCodeNetwork', typist.network ?? networkKey('unknown network'));
  await countAttempt(deps, 'userCodeAccount', typist.userId);
}

/** A pending request the user may answer: what the consent page shows. */
export interface PendingDeviceAuthorization {
  /** The normalized user code, for the consent form to send back. */
  userCode: string;
  authorization: DeviceAuthorization;
  client: Client;
}

/** The same words for a code that never existed, has expired or was answered: a guess learns nothing from which. */
function unusableCode(): PageError {
  return new PageError(
    'Code not accepted',
    'This code is not valid, has expired or was already used. Check the code your device shows, or start again on the device.',
  );
}

/**
 * The pending request a typed user code names, after counting the lookup
 * (countLookup). Throws PageError for a code that is malformed, unknown,
 * expired or already answered, and 429 over a limit.
 */
export async function lookUpUserCode(deps: Deps, typed: string, typist: UserCodeTypist): Promise<PendingDeviceAuthorization> {
  const userCode = normalizeUserCode(typed);
  // A malformed code names nothing: refused without a lookup, so without counting.
  if (!userCode) {
    throw new PageError('Code not accepted', `A code is ${USER_CODE_LENGTH} letters, like BCDF-GHJK. Check the code your device shows.`);
  }
  await countLookup(deps, typist);
  const found = await findByUserCode(deps.db, await hashSecret(userCode));
  if (!found || !answerable(found)) throw unusableCode();
  return { userCode, ...found };
}

/** Whether a request still waits for an answer. */
function answerable({ authorization }: DeviceAuthorizationWithClient): boolean {
  return authorization.status === 'pending' && authorization.expiresAt > now();
}

/** The user's answer on the device consent page. */
export interface UserCodeAnswer {
  /** As the consent form sends it back: normalized, but typed by no one, so checked again. */
  userCode: string;
  decision: 'allow' | 'deny';
  session: SessionInfo;
  ip: string | null;
  network: NetworkKey | null;
}

/**
 * The user's answer (RFC 8628 §3.3): the request is looked up again (and
 * counted: the form's code is the browser's word, and a form posted with
 * guesses is a guesser), then approved or denied in one D1 batch, only while
 * it is pending and unexpired. An approval, like the code flow's approve():
 * - decideStatement marks the request approved by this user with a random
 *   marker, or matches nothing (already answered, expired);
 * - the (user, client) grant is made or widened to every scope the user has
 *   approved for the client, where the marker is;
 * - the request is tied to that grant, where the marker is;
 * - the `consent_granted` audit event, where the marker is;
 * so of two answers at once only one takes effect, and nothing else happens
 * without it. A denial only marks the request (the device gets access_denied).
 */
export async function answerUserCode(deps: Deps, answer: UserCodeAnswer): Promise<{ outcome: 'approved' | 'denied'; clientName: string }> {
  const { db } = deps;
  const { session } = answer;
  const pending = await lookUpUserCode(deps, answer.userCode, { network: answer.network, userId: session.user.id });
  const { authorization, client } = pending;
  const userCodeHash = authorization.userCodeHash;
  const marker = randomSecret(16);
  const time = now();
  const scope = authorization.scope.split(' ');
  const decision = {
    userCodeHash,
    userId: session.user.id,
    marker,
    time,
    authTime: session.authTime,
    // How the user signed in (RFC 8176), for the ID token the device gets.
    amr: session.amr,
    claims: scope.includes('openid') ? userClaims(session.user, scope) : null,
  };
  if (answer.decision === 'deny') {
    const [denied] = await db.batch([decideStatement(db, { ...decision, status: 'denied' })]);
    if (denied.length === 0) throw unusableCode();
    return { outcome: 'denied', clientName: client.name };
  }
  const before = await findGrant(db, session.user.id, client.id);
  const [approved] = await db.batch([
    decideStatement(db, { ...decision, status: 'approved' }),
    grantOfDecisionStatement(db, { ...decision, scope: widenedScope(before?.scope, scope) }),
    linkGrantOfDecisionStatement(db, decision),
    auditOfDecisionStatement(db, { ...decision, type: 'consent_granted', ip: answer.ip }),
  ]);
  if (approved.length === 0) throw unusableCode();
  return { outcome: 'approved', clientName: client.name };
}

/** A poll's outcome: the redeemed request to issue tokens from, or the RFC 8628 §3.5 error to answer. */
export type PollOutcome =
  | { ok: true; authorization: DeviceAuthorization }
  | {
      ok: false;
      error:
        | 'authorization_pending'
        | 'slow_down'
        | 'access_denied'
        | 'expired_token'
        | 'invalid_grant'
        | 'invalid_target'
        | 'invalid_dpop_proof';
      description: string;
    };

/** A poll at the token endpoint (RFC 8628 §3.4), by the client presented. */
export interface Poll {
  deviceCode: string;
  /** RFC 8707 §2.2: the resources the poll names (checked known ones), each of which the request must hold; empty for none. */
  resources: readonly string[];
  /**
   * Mint the grant's first refresh token with the redemption (its hash;
   * public clients need offline_access); it is minted only for a client
   * registered for refresh_token.
   */
  refresh?: { tokenHash: string; requireOfflineAccess: boolean; dpopJkt?: string | null } | undefined;
  /** The poll's DPoP proof (RFC 9449), recorded once in the poll's batch; null: none. */
  dpop?: DpopProof | null;
}

/**
 * RFC 8628 §3.4–3.5: one poll, in one D1 batch (one round trip, one
 * transaction) that also authenticates the client
 * (services/client-authentication.ts), in this order:
 * 1. the client's row, and the request as it was (only the polling client's:
 *    another client's device code is unknown to it);
 * 2. the atomic redemption: an UPDATE ... RETURNING that marks an approved,
 *    unredeemed, unexpired request with this poll's marker, so of two
 *    concurrent polls one gets the tokens (RFC 6749 §4.1.2's single use);
 * 3. the poll's time and, when it came sooner than the interval after the
 *    last one, the interval grown by 5 s (§3.5 slow_down: "MUST" from then on);
 * 4. the grant's first refresh token and its last use, each only where the
 *    request bears this poll's marker (a losing poll mints nothing).
 * Steps 2 and 3 act only if the client authenticates, so a poll whose client
 * fails neither redeems nor slows the real device down. The client is checked
 * first (its errors before the poll's); the answer then comes from (1) and
 * (2): tokens, or which §3.5 error.
 */
export async function pollDeviceAuthorization(deps: Deps, pending: PendingClient, poll: Poll): Promise<PollOutcome & { client: Client }> {
  const { db } = deps;
  const deviceCodeHash = await hashSecret(poll.deviceCode);
  const { client, before, redeemed, time } = await inClientBatch(pending, async () => {
    const input: PollInput = { deviceCodeHash, clientId: pending.id, time: now(), marker: randomSecret(16), guard: pending.guard };
    const refresh = poll.refresh ? [refreshTokenFromDeviceStatement(db, { ...input, ...poll.refresh })] : [];
    // RFC 9449 §11.1: the proof's single use, in this batch (a replay fails it whole).
    const proof = poll.dpop ? [recordProofOfClientStatement(db, poll.dpop, pending.guard)] : [];
    const [clientRows, beforeRows, redeemedRows] = await db.batch([
      guardedClientQuery(db, pending.guard),
      pollStateQuery(db, input),
      redeemStatement(db, {
        ...input,
        resources: poll.resources,
        defaultResources: JSON.stringify([defaultResourceUri(deps.issuer)]),
        dpopJkt: poll.dpop?.jkt ?? null,
      }),
      recordPollStatement(db, input),
      touchGrantOfDeviceStatement(db, input),
      ...refresh,
      ...proof,
      // RFC 7523 §3: a private_key_jwt assertion's single use, likewise.
      ...pending.writes(db),
    ]);
    return { clientRow: clientRows[0], before: beforeRows[0], redeemed: redeemedRows[0], time: input.time };
  });
  if (redeemed) return { ok: true, authorization: redeemed, client };
  if (!poll.dpop && client.dpopBoundAccessTokens && before?.status === 'approved') {
    // RFC 9449 §5.2: the redemption's UPDATE held back for want of a proof; the approval is unspent.
    return {
      ok: false,
      error: 'invalid_dpop_proof',
      description: 'this client registered dpop_bound_access_tokens: send a DPoP proof',
      client,
    };
  }
  return { ...refusal(before, time, poll.resources.length > 0), client };
}

/** Why a poll got no tokens, by the request as it was before the poll (RFC 8628 §3.5). */
function refusal(row: DeviceAuthorization | undefined, time: number, namedResources: boolean): PollOutcome & { ok: false } {
  if (!row) return { ok: false, error: 'invalid_grant', description: 'the device_code is unknown, or was issued to another client' };
  if (row.redeemedAt !== null) return { ok: false, error: 'invalid_grant', description: 'the device_code was already used' };
  if (row.expiresAt <= time) return { ok: false, error: 'expired_token', description: 'the device_code has expired; start again' };
  if (row.status === 'denied') return { ok: false, error: 'access_denied', description: 'the user denied the request' };
  if (row.lastPolledAt !== null && time < row.lastPolledAt + row.interval) {
    return {
      ok: false,
      error: 'slow_down',
      description: `polling too often: wait ${DEVICE_CODE_SLOW_DOWN_STEP} seconds longer between polls from now on`,
    };
  }
  if (row.status === 'approved' && row.grantId !== null && namedResources) {
    // RFC 8707 §2.2: only the resource list held the redemption back; the approval is still unspent.
    return {
      ok: false,
      error: 'invalid_target',
      description: 'resource names a resource the device authorization request did not ask for',
    };
  }
  // Approved but not redeemed by this poll: its grant was revoked meanwhile (the row lost grant_id).
  if (row.status === 'approved') return { ok: false, error: 'invalid_grant', description: 'the authorization was revoked' };
  return { ok: false, error: 'authorization_pending', description: 'the user has not answered yet' };
}
