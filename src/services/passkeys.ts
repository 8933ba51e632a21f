import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { z } from 'zod';
import {
  PASSKEY_NAME_MAX_LENGTH,
  PASSKEYS_PER_USER_MAX,
  SECRET_BYTES,
  WEBAUTHN_CHALLENGE_TTL,
  WEBAUTHN_DECOY_CREDENTIAL_BYTES,
  WEBAUTHN_RESPONSE_MAX_LENGTH,
  WEBAUTHN_RP_NAME,
} from '../config';
import type { Deps } from '../deps';
import { base64url, hashSecret, now, randomSecret } from '../lib/crypto';
import type { NetworkKey } from '../lib/network';
import { auditStatement, recordAudit } from '../storage/audit';
import { isUniqueViolation } from '../storage/db';
import {
  auditPasskeyOfUserStatement,
  consumeChallengeStatement,
  credentialsOfEmailQuery,
  deletePasskeyOfUserStatement,
  insertChallengeForEmailStatement,
  insertChallengeStatement,
  insertPasskeyStatement,
  passkeyQuery,
  passkeysOfUserQuery,
  recordPasskeyUseStatement,
  userOfPasskeyQuery,
} from '../storage/passkeys';
import type { Passkey, User } from '../storage/schema';
import { fromNetwork, isLocked, lock, overLimit, tooManyRequests } from './rate-limits';

// Passkeys (W3C WebAuthn Level 3) with @simplewebauthn/server, which checks
// each ceremony's client data (type, challenge, origin), the RP id hash, the
// flags and the signature. What is Tollgate's own: the relying party is the
// issuer (its host is the RP id, its origin the only origin accepted);
// challenges are D1 rows consumed once; the signature counter and the backup
// flags are kept and checked here; and a passkey sign-in is limited like a
// password one.

/**
 * A ceremony that did not succeed, with what to tell the person. The route
 * shows `message`; nothing in it comes from the request or the library.
 */
export class PasskeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PasskeyError';
  }
}

/** The relying party: the issuer. Its host is the RP id (§5.1.4.1: a domain, never an IP address), its origin the only one accepted. */
export function relyingParty(issuer: string): { id: string; origin: string } {
  const url = new URL(issuer);
  return { id: url.hostname, origin: url.origin };
}

/** AuthenticatorTransport values (§5.8.4) worth keeping; anything else a browser reports is dropped. */
const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;
const base64urlText = z
  .string()
  .max(WEBAUTHN_RESPONSE_MAX_LENGTH)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');
const credentialBase = {
  id: base64urlText.min(1),
  rawId: base64urlText.min(1),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional().catch(undefined),
  // Extensions are not asked for; whatever a browser reports is not read.
  clientExtensionResults: z.object({}).catch({}),
};

/** The JSON of a PublicKeyCredential from create() (§5.1, `toJSON()`), as the page's module sends it. */
export const registrationCredentialSchema = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: base64urlText,
    attestationObject: base64urlText,
    transports: z
      .array(z.string().max(32))
      .max(TRANSPORTS.length * 2)
      .optional()
      .transform((list) =>
        (list ?? []).filter((value): value is AuthenticatorTransport => (TRANSPORTS as readonly string[]).includes(value)),
      ),
  }),
});

/** The JSON of a PublicKeyCredential from get() (§5.1, `toJSON()`). */
export const authenticationCredentialSchema = z.object({
  ...credentialBase,
  response: z.object({
    clientDataJSON: base64urlText,
    authenticatorData: base64urlText,
    signature: base64urlText,
    // A null user handle (an authenticator that returns none) is the same as none.
    userHandle: base64urlText.nullish().transform((handle) => handle ?? undefined),
  }),
});

/** A form field carrying a credential's JSON: parsed, then checked against `schema`. A malformed one is no credential. */
export function credentialField<S extends z.ZodType>(schema: S) {
  return z
    .string()
    .max(WEBAUTHN_RESPONSE_MAX_LENGTH)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** The name a user gives a passkey; blank means none. */
export const passkeyNameSchema = z.string().trim().max(PASSKEY_NAME_MAX_LENGTH, `must be at most ${PASSKEY_NAME_MAX_LENGTH} characters`);

/** The user handle of an account (§5.4.3, §14.6.1): its id, a random UUID, so no personal data reaches the authenticator. */
function userHandle(user: Pick<User, 'id'>): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(new TextEncoder().encode(user.id));
}

/** A ceremony begun: the options for the browser, and the value of the cookie that binds its challenge to this browser. */
export interface Ceremony<O> {
  options: O;
  cookie: string;
}

/**
 * A new challenge (§13.4.3: at least 16 random bytes; 32 here), the row's
 * values and the cookie value that names it. The library is handed the
 * bytes: given a string it would encode the string's UTF-8 instead, and the
 * client data would then carry something other than what is stored.
 */
async function newChallenge(time: number) {
  const cookie = randomSecret();
  const bytes = crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
  return { cookie, idHash: await hashSecret(cookie), bytes, challenge: base64url(bytes), expiresAt: time + WEBAUTHN_CHALLENGE_TTL };
}

/**
 * Begins adding a passkey for the signed-in user (§7.1): residentKey
 * required (a passkey signs in without a typed email), user verification
 * preferred, attestation none (Tollgate trusts no authenticator model more
 * than another), and the user's own credentials excluded, so an
 * authenticator that holds one already says so instead of making another.
 * The read of those and the challenge's insert share one D1 batch: one round trip.
 */
export async function beginRegistration(deps: Deps, user: User): Promise<Ceremony<PublicKeyCredentialCreationOptionsJSON>> {
  const { db } = deps;
  const fresh = await newChallenge(now());
  const [existing] = await db.batch([
    passkeysOfUserQuery(db, user.id),
    insertChallengeStatement(db, {
      idHash: fresh.idHash,
      userId: user.id,
      purpose: 'registration',
      challenge: fresh.challenge,
      expiresAt: fresh.expiresAt,
    }),
  ]);
  if (existing.length >= PASSKEYS_PER_USER_MAX)
    throw new PasskeyError(`An account can have at most ${PASSKEYS_PER_USER_MAX} passkeys. Remove one first.`);
  const rp = relyingParty(deps.issuer);
  const options = await generateRegistrationOptions({
    rpName: WEBAUTHN_RP_NAME,
    rpID: rp.id,
    userID: userHandle(user),
    userName: user.email,
    userDisplayName: user.name,
    challenge: fresh.bytes,
    timeout: WEBAUTHN_CHALLENGE_TTL * 1000,
    attestationType: 'none',
    excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
  });
  return { options, cookie: fresh.cookie };
}

/** What the browser sent to finish adding a passkey. */
export interface RegistrationAnswer {
  /** The `tg_webauthn` cookie's value. */
  cookie: string | undefined;
  name: string;
  credential: RegistrationResponseJSON;
  ip: string | null;
}

/**
 * Finishes adding a passkey (§7.1): the challenge is consumed first (so it
 * is answered once, whatever follows), must be this user's registration
 * challenge and unexpired; the library then checks the client data (type,
 * challenge, origin = the issuer's), the RP id hash and the attestation.
 * The passkey and its audit event share one D1 batch: both or neither.
 */
export async function finishRegistration(deps: Deps, user: User, answer: RegistrationAnswer): Promise<Passkey> {
  const { db } = deps;
  const time = now();
  const expected = await consumeChallenge(deps, answer.cookie, 'registration', time);
  if (!expected || expected.userId !== user.id) throw new PasskeyError('This passkey request has expired or was already used. Try again.');
  const rp = relyingParty(deps.issuer);
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response: answer.credential,
      expectedChallenge: expected.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      expectedType: 'webauthn.create',
      requireUserVerification: false,
    });
  } catch {
    // The library's messages quote the request (origins, challenges): none of it reaches the page or the log.
    verification = { verified: false };
  }
  if (!verification.verified) throw new PasskeyError('The passkey could not be checked. Try again.');
  const info = verification.registrationInfo;
  const passkey: Passkey = {
    id: info.credential.id,
    userId: user.id,
    publicKey: base64url(info.credential.publicKey),
    counter: info.credential.counter,
    transports: answer.credential.response.transports ?? [],
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    name: answer.name || 'Passkey',
    createdAt: time,
    lastUsedAt: null,
  };
  try {
    await db.batch([insertPasskeyStatement(db, passkey), auditStatement(db, { type: 'passkey_added', userId: user.id, ip: answer.ip })]);
  } catch (error) {
    // §7.1 step 26: a credential id already registered (to anyone) is refused.
    if (isUniqueViolation(error)) throw new PasskeyError('This passkey is already registered.');
    throw error;
  }
  return passkey;
}

/**
 * Removes one of the user's passkeys. The audit event is inserted only if the
 * passkey is theirs, before the delete in the same batch: a passkey of
 * someone else (or none) changes nothing and records nothing.
 */
export async function removePasskey(deps: Deps, userId: string, credentialId: string, ip: string | null): Promise<boolean> {
  const { db } = deps;
  const [, deleted] = await db.batch([
    auditPasskeyOfUserStatement(db, { type: 'passkey_removed', userId, credentialId, ip, at: now() }),
    deletePasskeyOfUserStatement(db, userId, credentialId),
  ]);
  return deleted.length > 0;
}

/** The user's passkeys, for /account. */
export function listPasskeys(db: Deps['db'], userId: string) {
  return passkeysOfUserQuery(db, userId);
}

/**
 * Begins a passkey sign-in (§7.2). Without an email: discoverable
 * credentials (an empty allowCredentials; the authenticator offers the
 * passkeys it holds for the RP id). With one (username-first): the account's
 * credentials and their transports, so a security key or a phone is asked
 * for the right one. An email with no passkeys, or no account, gets made-up
 * credential ids, the same for the same email every time, so the answer does
 * not tell whether the account exists (the challenge is then bound to no
 * account, and no credential answers it). The credentials' read and the
 * challenge's insert share one D1 batch (one round trip, the same for a
 * known and an unknown email). User verification is required: a passkey
 * sign-in stands for two factors (the device and its PIN or biometric).
 */
export async function beginSignIn(deps: Deps, email: string | undefined): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const { db } = deps;
  const fresh = await newChallenge(now());
  const row = { idHash: fresh.idHash, purpose: 'authentication' as const, challenge: fresh.challenge, expiresAt: fresh.expiresAt };
  let allowCredentials: { id: string; transports?: AuthenticatorTransport[] }[] = [];
  if (email) {
    const [credentials] = await db.batch([credentialsOfEmailQuery(db, email), insertChallengeForEmailStatement(db, row, email)]);
    allowCredentials = credentials.map((entry) => ({ id: entry.credentialId, transports: entry.transports as AuthenticatorTransport[] }));
    if (allowCredentials.length === 0) allowCredentials = [await decoyCredential(deps, email)];
  } else {
    await insertChallengeStatement(db, { ...row, userId: null });
  }
  const options = await generateAuthenticationOptions({
    rpID: relyingParty(deps.issuer).id,
    challenge: fresh.bytes,
    timeout: WEBAUTHN_CHALLENGE_TTL * 1000,
    userVerification: 'required',
    allowCredentials,
  });
  return { options, cookie: fresh.cookie };
}

/**
 * A credential id made up for an email: HMAC-SHA-256 of it under a server
 * secret, so the same email always gets the same one and nobody without the
 * secret can tell it from a real one. The secret is KEY_ENCRYPTION_KEY or
 * SIGNING_KEY, one of which every non-loopback issuer has (services/keys.ts
 * refuses to run without); a loopback issuer without either (local
 * development, where there is nobody to hide accounts from) uses the issuer.
 */
async function decoyCredential(deps: Deps, email: string): Promise<{ id: string; transports: AuthenticatorTransport[] }> {
  const secret = deps.env.KEY_ENCRYPTION_KEY ?? deps.env.SIGNING_KEY ?? deps.issuer;
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(`tollgate passkey decoy\0${secret}`),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(email)));
  return { id: base64url(mac.slice(0, WEBAUTHN_DECOY_CREDENTIAL_BYTES)), transports: ['internal', 'hybrid'] };
}

/** What the browser sent to finish a passkey sign-in, and where it came from. */
export interface SignInAnswer {
  cookie: string | undefined;
  credential: AuthenticationResponseJSON;
  ip: string | null;
  network: NetworkKey | null;
}

/** A passkey sign-in's outcome: the user and how they signed in (RFC 8176 `amr` values, for the session). */
export interface PasskeySignIn {
  user: User;
  amr: string[];
}

/**
 * Finishes a passkey sign-in (§7.2). In order:
 * - a network (or an account from that network) over its failed sign-in
 *   limit is refused before anything is checked (429), as for passwords;
 * - the challenge is consumed and the credential read in one D1 batch, so
 *   the challenge is spent whatever follows;
 * - the credential must exist, belong to the account the challenge was
 *   bound to (username-first) if any, and to the user handle the
 *   authenticator returned (§7.2 step 6); the account must not be disabled;
 * - the library checks the client data (type, challenge, origin), the RP id
 *   hash, user presence and verification, and the signature;
 * - §6.1.1: a signature counter that does not grow while either value is
 *   non-zero means the credential may have been cloned: refused and audited.
 *   The BE flag must not change (§6.1.3);
 * - the new counter and backup state are written only if the counter read is
 *   still stored (compare and swap): two sign-ins with one assertion race and
 *   one loses.
 * Every failure counts against the sign-in limits and is audited.
 */
export async function finishSignIn(deps: Deps, answer: SignInAnswer): Promise<PasskeySignIn> {
  const { db } = deps;
  const time = now();
  if (answer.network && (await isLocked(deps, 'signInNetwork', answer.network))) throw tooManyRequests();
  const idHash = answer.cookie ? await hashSecret(answer.cookie) : null;
  const [consumed, passkeyRows, userRows] = await db.batch([
    consumeChallengeStatement(db, idHash ?? '', 'authentication', time),
    passkeyQuery(db, answer.credential.id),
    userOfPasskeyQuery(db, answer.credential.id),
  ]);
  const expected = consumed[0];
  const passkey = passkeyRows[0];
  const user = userRows[0] ?? null;
  if (user && (await isLocked(deps, 'signInPair', fromNetwork(user.email, answer.network)))) throw tooManyRequests();

  const fail = async (message: string, type: 'passkey_sign_in_failed' | 'passkey_clone_suspected' = 'passkey_sign_in_failed') => {
    await recordAudit(db, { type, userId: user?.id ?? null, ip: answer.ip });
    await countFailure(deps, user, answer);
    return new PasskeyError(message);
  };
  const refused = 'That passkey could not sign you in.';
  if (!expected) throw await fail('The passkey request has expired or was already used. Try again.');
  if (!passkey || !user) throw await fail(refused);
  if (expected.userId !== null && expected.userId !== user.id) throw await fail(refused);
  const handle = answer.credential.response.userHandle;
  if (handle && handle !== base64url(userHandle(user))) throw await fail(refused);
  if (user.disabledAt !== null) throw await fail(refused);

  const rp = relyingParty(deps.issuer);
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>> | null;
  try {
    verification = await verifyAuthenticationResponse({
      response: answer.credential,
      expectedChallenge: expected.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      // The counter is checked below, after the signature: a regression is a
      // clone only when the real key signed. (The library checks it before.)
      credential: {
        id: passkey.id,
        publicKey: fromBase64urlBytes(passkey.publicKey),
        counter: 0,
        transports: passkey.transports as AuthenticatorTransport[],
      },
    });
  } catch {
    verification = null;
  }
  if (!verification?.verified) throw await fail(refused);
  const info = verification.authenticationInfo;
  const stored = passkey.counter;
  if ((info.newCounter > 0 || stored > 0) && info.newCounter <= stored) {
    throw await fail(
      'This passkey was refused: it may have been copied. Sign in another way and check your passkeys.',
      'passkey_clone_suspected',
    );
  }
  if (info.credentialDeviceType !== passkey.deviceType) throw await fail(refused);
  const written = await recordPasskeyUseStatement(db, {
    id: passkey.id,
    previousCounter: stored,
    counter: info.newCounter,
    backedUp: info.credentialBackedUp,
    lastUsedAt: time,
  });
  if (written.length === 0) throw await fail(refused);
  await recordAudit(db, { type: 'sign_in', userId: user.id, ip: answer.ip });
  return { user, amr: passkeyAmr(info.credentialDeviceType, info.userVerified) };
}

/**
 * RFC 8176 §2 values for a passkey sign-in: `hwk` for a key bound to one
 * device (not backup eligible), `swk` for a synced one (its private key
 * leaves the hardware), and `user` when the authenticator verified the user
 * (a PIN or biometric: the second factor).
 */
export function passkeyAmr(deviceType: Passkey['deviceType'], userVerified: boolean): string[] {
  return [deviceType === 'singleDevice' ? 'hwk' : 'swk', ...(userVerified ? ['user'] : [])];
}

/**
 * Counts a failed passkey sign-in as a failed password is counted
 * (services/sign-in.ts): per client network, and per account and network
 * when the credential named one; over a limit, that subject is locked for a
 * minute (audited once as `sign_in_limited`) and the answer is 429. The
 * account-wide limit is not counted: nobody can guess a passkey, and counting
 * it would let anyone lock the owner out.
 */
async function countFailure(deps: Deps, user: User | null, answer: SignInAnswer): Promise<void> {
  const network = answer.network;
  const pair = user ? fromNetwork(user.email, network) : null;
  const [networkOver, pairOver] = await Promise.all([
    network ? overLimit(deps, 'signInNetwork', network) : false,
    pair ? overLimit(deps, 'signInPair', pair) : false,
  ]);
  if (!networkOver && !pairOver) return;
  await Promise.all([
    networkOver && network ? lock(deps, 'signInNetwork', network) : undefined,
    pairOver && pair ? lock(deps, 'signInPair', pair) : undefined,
    recordAudit(deps.db, { type: 'sign_in_limited', userId: user?.id ?? null, ip: answer.ip }),
  ]);
  throw tooManyRequests();
}

async function consumeChallenge(deps: Deps, cookie: string | undefined, purpose: 'registration' | 'authentication', time: number) {
  if (!cookie) return undefined;
  const [row] = await consumeChallengeStatement(deps.db, await hashSecret(cookie), purpose, time);
  return row;
}

function fromBase64urlBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}
