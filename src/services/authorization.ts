import { z } from 'zod';
import { ACR_MFA, AUTH_REQUEST_COOKIE_MAX_LENGTH, CLIENT_VALUE_MAX_LENGTH, PUSHED_REQUEST_URI_MAX_LENGTH } from '../config';
import type { Deps } from '../deps';
import { OAuthError, PageError } from '../errors';
import { now } from '../lib/crypto';
import { describeIssues } from '../lib/issues';
import type { NetworkKey } from '../lib/network';
import { clientIdParam } from '../lib/params';
import { auditStatement } from '../storage/audit';
import { deleteAuthRequest, loadAuthRequest, newAuthRequestId, saveAuthRequest } from '../storage/auth-requests';
import { clientQuery, findClient } from '../storage/clients';
import { prepareCode } from '../storage/codes';
import { isForeignKeyViolation, isUniqueViolation } from '../storage/db';
import { grantOfSessionQuery, upsertGrantStatement } from '../storage/grants';
import { consumedParameters, consumePushedRequestStatement } from '../storage/pushed-requests';
import type { Client, Grant, User } from '../storage/schema';
import { type SessionInfo, sessionQuery, toSessionInfo } from '../storage/sessions';
import { AUTHORIZATION_CHECKS, checkClientFound, checkRedirectUri, readTarget, runChecks } from './authorization/checks';
import { type AuthorizationRequest, type ClientRedirect, errorRedirect, type RequestParameters } from './authorization/request';
import { openSealedRequest, sealRequest } from './authorization/sealed-request';
import { ClientMetadataError, resolveClient } from './client-metadata-documents';
import { requestUriHash } from './pushed-requests';
import { readFromReplica } from './replica';
import { storedResources } from './resources';
import { splitScope, userClaims } from './scopes';
import { acrOf } from './tokens';

export type { AuthorizationRequest, ClientRedirect, RequestParameters } from './authorization/request';

// The authorization code flow's front channel (RFC 6749 §4.1, OIDC Core
// §3.1.2) in three parts that any entry point can call: readRequest (parse
// and validate, with the steps in authorization/checks.ts), decide (sign in,
// consent, or approve: a value) and approve (the grant and the code in one D1
// batch). sealForSignIn and holdRequest keep a request while the user is
// away; answerConsent takes the consent page's answer. GET and POST
// /oauth2/authorize only adapt HTTP to them.

/** A pending request's id in a return URL: 256 bits, base64url. */
const REQUEST_ID = /^[A-Za-z0-9_-]{43}$/;

/** What a request is decided with, read in one D1 round trip with the client. */
export interface DecisionInput {
  request: AuthorizationRequest;
  client: Client;
  session: SessionInfo | null;
  /** The session user's grant to this client: what they approved before. */
  grant: Grant | null;
}

/**
 * A request read: ready to decide, or an error for the client (RFC 6749
 * §4.1.2.1). `carried` says the request came back sealed, from the browser
 * (sealForSignIn): its cookie has served, unless the request goes to sign in again.
 */
export type Reading = ({ ok: true; carried: boolean } & DecisionInput) | { ok: false; to: ClientRedirect };

/** The sealed copy of pending request `id` that the browser carries, if it sent one (the route reads its cookie). */
export type CarriedRequest = (id: string) => string | undefined;

/**
 * Everything a request is decided with, in one D1 round trip: the browser's
 * session, the client, and the session user's grant to it (remembered consent).
 */
async function lookUp(deps: Deps, clientId: string, sessionIdHash: string | null) {
  const { db } = deps;
  if (!sessionIdHash) return { client: await findClient(db, clientId), session: null, grant: null };
  const [session, clients, grants] = await db.batch([
    sessionQuery(db, sessionIdHash),
    clientQuery(db, clientId),
    grantOfSessionQuery(db, sessionIdHash, clientId),
  ]);
  return { client: clients[0], session: toSessionInfo(sessionIdHash, session), grant: grants[0] ?? null };
}

/**
 * lookUp for reading a request (a new one, or one back from sign-in), at a
 * D1 read replica at least as fresh as the browser's last write (`bookmark`):
 * its answer is used only when it has the session, the client and the grant
 * and its replica clock is fresh (services/replica.ts); anything missing (a
 * session just signed in, a client just registered, a first consent) is
 * looked up at the primary, so a replica never turns a request away nor asks
 * for consent given before. The consent answer's lookUp, and the approval and
 * redemption that decide single use, stay at the primary.
 */
async function lookUpAtReplica(deps: Deps, clientId: string, sessionIdHash: string | null, bookmark?: string) {
  if (!sessionIdHash) return lookUp(deps, clientId, null);
  const [session, clients, grants] = await readFromReplica(
    deps,
    (db) => [sessionQuery(db, sessionIdHash), clientQuery(db, clientId), grantOfSessionQuery(db, sessionIdHash, clientId)],
    ([sessions, found, granted]) => sessions.length > 0 && found.length > 0 && granted.length > 0,
    bookmark,
  );
  return { client: clients[0], session: toSessionInfo(sessionIdHash, session), grant: grants[0] ?? null };
}

/**
 * Parse and validate: a new authorization request (RFC 6749 §4.1.1), or one
 * coming back from the sign-in page by `request_id` (sealed in the browser's
 * `carried` copy). Step 1 (the client and its redirect URI) throws PageError;
 * step 2 errors are returned, to redirect. `sessionIdHash` is the browser's
 * session cookie, hashed (or null).
 */
export async function readRequest(
  deps: Deps,
  params: RequestParameters,
  sessionIdHash: string | null,
  carried: CarriedRequest = () => undefined,
  network: NetworkKey | null = null,
  bookmark?: string,
): Promise<Reading> {
  if ('request_id' in params) return resumeRequest(deps, params, sessionIdHash, carried, bookmark);
  if ('request_uri' in params) return readPushedRequest(deps, params, sessionIdHash, network);
  const { clientId } = readTarget(params);
  return checkRequest(deps, params, await lookUpAtReplica(deps, clientId, sessionIdHash, bookmark), network, false);
}

/**
 * Steps 1 and 2 over a request's parameters, with what was looked up for it:
 * from the query string, or (`pushed`) from the PAR endpoint's row.
 */
async function checkRequest(
  deps: Deps,
  params: RequestParameters,
  { client: stored, session, grant }: Awaited<ReturnType<typeof lookUp>>,
  network: NetworkKey | null,
  pushed: boolean,
): Promise<Reading> {
  const { clientId, redirectUri } = readTarget(params);
  const client = await documentClient(deps, clientId, stored, network);
  checkClientFound(client);
  checkRedirectUri(client, redirectUri);
  try {
    const { request } = runChecks(AUTHORIZATION_CHECKS, params, client, deps.issuer, pushed);
    return { ok: true, carried: false, request: completeRequest(request, client, redirectUri), client, session, grant };
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    // The request's own state goes back with the error, even when the error is about it.
    const state = typeof params.state === 'string' ? params.state.slice(0, CLIENT_VALUE_MAX_LENGTH) : null;
    return { ok: false, to: errorRedirect(redirectUri, state, error.code, error.message) };
  }
}

const pushedParameters = z.object({ client_id: clientIdParam, request_uri: z.string().max(PUSHED_REQUEST_URI_MAX_LENGTH) });

/**
 * RFC 9126 §4: a request by `request_uri`, pushed to the PAR endpoint
 * before. Only `client_id` and `request_uri` are read; any other parameter
 * sent beside them is ignored (RFC 9101 §6.3, which §4 builds on: only the
 * pushed parameters are used). The row is consumed in the same D1 round trip
 * as the lookup, once, and only for the client that pushed it; an unknown,
 * used or expired request_uri is an error page (there is no redirect URI to
 * trust). Then the pushed parameters run through the same steps as any
 * request (§4: validated "as it would any other authorization request"), and
 * go on as one: a signed-out browser carries the request to /login and back
 * by its request_id, as always.
 */
async function readPushedRequest(
  deps: Deps,
  params: RequestParameters,
  sessionIdHash: string | null,
  network: NetworkKey | null,
): Promise<Reading> {
  const target = pushedParameters.safeParse(params);
  const hash = target.success ? await requestUriHash(target.data.request_uri) : null;
  if (!target.success || hash === null) {
    throw new PageError(
      'Invalid request',
      'The app sent an invalid request: client_id and a request_uri from the PAR endpoint are required.',
    );
  }
  const clientId = target.data.client_id;
  const { pushed, ...lookedUp } = await lookUpPushed(deps, clientId, hash, sessionIdHash);
  if (pushed === null) {
    throw new PageError('Request expired', 'This sign-in link has expired or was already used. Go back to the app and start again.');
  }
  return checkRequest(deps, pushed, lookedUp, network, true);
}

/** lookUp, with the consumption of a pushed request in the same D1 batch (one round trip). */
async function lookUpPushed(deps: Deps, clientId: string, hash: string, sessionIdHash: string | null) {
  const { db } = deps;
  const consume = consumePushedRequestStatement(db, { hash, clientId, time: now() });
  if (!sessionIdHash) {
    const [clients, consumed] = await db.batch([clientQuery(db, clientId), consume]);
    return { client: clients[0], session: null, grant: null, pushed: consumedParameters(consumed) };
  }
  const [session, clients, grants, consumed] = await db.batch([
    sessionQuery(db, sessionIdHash),
    clientQuery(db, clientId),
    grantOfSessionQuery(db, sessionIdHash, clientId),
    consume,
  ]);
  return {
    client: clients[0],
    session: toSessionInfo(sessionIdHash, session),
    grant: grants[0] ?? null,
    pushed: consumedParameters(consumed),
  };
}

/**
 * Step 1 for a client_id that is a client ID metadata document URL: the
 * client from its document when the row is missing or stale
 * (services/client-metadata-documents.ts). A document that cannot be used is
 * an error page, never a redirect: its redirect URIs are not to be trusted.
 * `network` is the browser's client network, whose fetches are limited.
 */
async function documentClient(deps: Deps, clientId: string, stored: Client | undefined, network: NetworkKey | null) {
  try {
    return await resolveClient(deps, clientId, stored, network);
  } catch (error) {
    if (error instanceof ClientMetadataError) {
      throw new PageError(
        'Unusable app description',
        `The app's client ID metadata document cannot be used: ${error.message}. You have not been redirected.`,
      );
    }
    if (error instanceof OAuthError && error.status === 429) {
      throw new PageError('Too many requests', 'Too many new apps were looked up from your network. Try again in a minute.', 429);
    }
    throw error;
  }
}

/** The checked parts, with what the request is kept as. */
function completeRequest(checked: Partial<AuthorizationRequest>, client: Client, redirectUri: string): AuthorizationRequest {
  const { scope, codeChallenge } = checked;
  // A step list without checkScope or checkPkce is a programming error, not a bad request.
  if (!scope || !codeChallenge) throw new Error('the authorization checks did not set scope and code_challenge');
  return {
    id: newAuthRequestId(),
    clientId: client.id,
    redirectUri,
    scope,
    resource: checked.resource ?? null,
    dpopJkt: checked.dpopJkt ?? null,
    state: checked.state ?? null,
    nonce: checked.nonce ?? null,
    codeChallenge,
    prompt: checked.prompt ?? [],
    maxAge: checked.maxAge ?? null,
    acrValues: checked.acrValues ?? null,
    loginHint: checked.loginHint ?? null,
    createdAt: now(),
    userId: null,
    signInAsked: null,
  };
}

const resumeParameters = z.object({ request_id: z.string().regex(REQUEST_ID) });

/**
 * Back from /login: the request was validated before and kept. Only
 * `request_id` is read; anything sent beside it is ignored (RFC 9700 §4.11.1).
 * The browser's sealed copy is the request when it sent one, and then only if
 * it opens for this id: a tampered or foreign copy is refused, never passed
 * over for KV. Without one, KV may hold it (a request kept at the consent
 * stage, or by an earlier release that kept every request there).
 */
async function resumeRequest(
  deps: Deps,
  params: RequestParameters,
  sessionIdHash: string | null,
  carried: CarriedRequest,
  bookmark?: string,
): Promise<Reading> {
  const resume = resumeParameters.safeParse(params);
  const id = resume.success ? resume.data.request_id : null;
  const sealed = id ? carried(id) : undefined;
  let request: AuthorizationRequest | null = null;
  if (id && sealed !== undefined) request = await openSealedRequest(deps, id, sealed);
  else if (id) request = await loadAuthRequest<AuthorizationRequest>(deps.env.KV, id);
  if (!request) throw new PageError('Request expired', 'This sign-in request has expired. Go back to the app and start again.');
  const { client, session, grant } = await lookUpAtReplica(deps, request.clientId, sessionIdHash, bookmark);
  if (!client) throw new PageError('Unknown app', 'The app that sent you here is no longer registered.');
  // The client may have dropped the redirect URI meanwhile (RFC 7592 §2.2 update): it is never redirected to then.
  checkRedirectUri(client, request.redirectUri);
  // One kept by an earlier release has no signInAsked: it has not sent anyone to sign in yet.
  const resumed = { ...request, signInAsked: request.signInAsked ?? null };
  return { ok: true, carried: sealed !== undefined, request: resumed, client, session, grant };
}

/** An approval to carry out: the user, the request, and how consent was given. */
export interface Approval {
  request: AuthorizationRequest;
  session: SessionInfo;
  /** The scope the user had approved for this client before (the grant's), if any. */
  approvedBefore: string | undefined;
  /** Whether the user consented just now on the page (audited), rather than consent being remembered. */
  consented: boolean;
  /** When consent is remembered: the grant it was remembered from (the code belongs to it; approve()). */
  rememberedGrantId?: string;
}

/**
 * What to do with a request:
 * - `sign-in`: keep `pending` and send the browser to sign in;
 * - `consent`: keep `pending` and show `user` the consent page;
 * - `approve`: carry out `approval` (approve());
 * - `refuse`: send the error back to the client (prompt=none could not be honoured).
 */
export type Decision =
  | { kind: 'sign-in'; pending: AuthorizationRequest }
  | { kind: 'consent'; pending: AuthorizationRequest; user: User }
  | { kind: 'approve'; approval: Approval }
  | { kind: 'refuse'; to: ClientRedirect };

/**
 * Decide: sign in when there is no session, when `prompt=login` asks for a
 * sign-in made for this request, or when the last sign-in is older than
 * `max_age` (OIDC Core §3.1.2.1); then consent, remembered (where the client
 * is identified: rememberedConsentAllowed) or asked for. `prompt=none` turns
 * what would need the user into an error (§3.1.2.6).
 */
export function decide({ request, client, session, grant }: DecisionInput): Decision {
  if (!session || needsSignIn(request, session)) {
    if (request.prompt.includes('none')) {
      return { kind: 'refuse', to: errorRedirect(request.redirectUri, request.state, 'login_required', 'the user is not signed in') };
    }
    return { kind: 'sign-in', pending: { ...request, signInAsked: { previousSession: session?.idHash ?? null } } };
  }
  // Remembered consent: a user who already approved every requested scope
  // for this client is not asked again, unless prompt=consent says so.
  if (grant && !request.prompt.includes('consent') && covers(grant, request.scope) && rememberedConsentAllowed(client, request)) {
    return { kind: 'approve', approval: { request, session, approvedBefore: grant.scope, consented: false, rememberedGrantId: grant.id } };
  }
  if (request.prompt.includes('none')) {
    return {
      kind: 'refuse',
      to: errorRedirect(request.redirectUri, request.state, 'consent_required', 'the user has not approved this app'),
    };
  }
  return { kind: 'consent', pending: { ...request, userId: session.user.id }, user: session.user };
}

/**
 * Whether `session` is not the sign-in `prompt=login` asks for, is older than
 * `max_age` allows, or did not earn the class `acr_values` asks for.
 */
function needsSignIn(request: AuthorizationRequest, session: SessionInfo): boolean {
  if (signedInForRequest(request, session)) return false;
  if (request.prompt.includes('login')) return true;
  if (acrNotEarned(request, session)) return true;
  // Elapsed time is measured at the request, not now: a user who took a while
  // on the sign-in page has still signed in for this request.
  return request.maxAge !== null && request.createdAt - session.authTime > request.maxAge;
}

/**
 * OIDC Core §3.1.2.1 acr_values: the client accepts only classes stronger
 * than the session earned (urn:tollgate:acr:mfa of a password-only session),
 * so the user is asked to sign in again, as for `prompt=login`: a passkey, or
 * a password and a code, earns it. A session that earned a class asked for,
 * or a stronger one, is enough. acr_values is voluntary (§5.5.1.1): once the
 * user has signed in for this request (needsSignIn stops asking), or under
 * `prompt=none` (no sign-in page may be shown, and the request should not
 * fail for a voluntary claim), the ID token says the class actually earned
 * (tokens.ts acrOf), never the one asked for.
 */
function acrNotEarned(request: AuthorizationRequest, session: SessionInfo): boolean {
  const asked = request.acrValues;
  if (!asked || request.prompt.includes('none')) return false;
  const earned = acrOf(session.amr);
  return earned !== ACR_MFA && !asked.includes(earned);
}

/**
 * Whether the browser signed in after this request sent it to: its session
 * is not the one it had then. Sessions are compared, not times, because
 * `auth_time` is whole seconds and a sign-in made just before the request
 * can carry the same second.
 */
function signedInForRequest(request: AuthorizationRequest, session: SessionInfo): boolean {
  return request.signInAsked !== null && session.idHash !== request.signInAsked.previousSession;
}

/**
 * RFC 8252 §8.6: a request is approved without the user only when the
 * client's identity is assured, since "any app on the device" may use a
 * public client's id. For a public client (no secret to redeem its code with,
 * RFC 6749 §2.1) a redirect URI that is not https assures nothing: any local
 * app can listen on a loopback IP literal, on whatever port Tollgate lets
 * vary (§7.3), register a private-use scheme (§7.1), or bind
 * http://localhost's port while the rightful app is not running (§8.3), and
 * then redeem the code with its own PKCE pair. So such a request always shows
 * the consent page, and prompt=none is consent_required. A confidential
 * client authenticates to redeem its code (RFC 6749 §4.1.3), and an https
 * redirect URI is a domain the client controls (RFC 8252 §7.2): both keep
 * remembered consent. A browser app served on http://localhost (a local
 * development server, such as the demo SPA under `npm start`) is asked each
 * time too: one click, and only where no https origin serves it.
 */
function rememberedConsentAllowed(client: Client, request: AuthorizationRequest): boolean {
  return client.tokenEndpointAuthMethod !== 'none' || new URL(request.redirectUri).protocol === 'https:';
}

/** Whether a grant already holds every scope asked for. */
function covers(grant: Grant, scope: readonly string[]): boolean {
  const approved = new Set(splitScope(grant.scope));
  return scope.every((token) => approved.has(token));
}

/**
 * The scope a grant holds after an approval: the union of every scope the
 * user approved for the client before and now. Shared by the code flow and
 * the device flow, whose approvals widen the same (user, client) grant.
 */
export function widenedScope(approvedBefore: string | undefined, scope: readonly string[]): string {
  return [...new Set([...splitScope(approvedBefore), ...scope])].join(' ');
}

/** A request sealed for the browser to carry to /login and back, or the error for the client when it is too large to. */
export type SignInHold = { ok: true; sealed: string } | { ok: false; to: ClientRedirect };

/**
 * Keeps a request that sends the browser to sign in, in the browser: sealed
 * (authorization/sealed-request.ts) for a cookie, so that an anonymous visitor
 * makes Tollgate store nothing (issue 11, finding 6).
 *
 * A request that seals to more than a cookie holds (AUTH_REQUEST_COOKIE_MAX_LENGTH:
 * a state, nonce and redirect URI near their limits) is refused with
 * invalid_request (RFC 6749 §4.1.2.1) rather than kept in KV: a KV fallback
 * would hand back the unbounded anonymous writes this removes, with only a
 * long parameter to pay for them. A signed-in user's request has no such
 * limit (holdRequest keeps it in KV).
 */
export async function sealForSignIn(deps: Deps, pending: AuthorizationRequest): Promise<SignInHold> {
  const sealed = await sealRequest(deps, pending);
  if (sealed.length <= AUTH_REQUEST_COOKIE_MAX_LENGTH) return { ok: true, sealed };
  return {
    ok: false,
    to: errorRedirect(
      pending.redirectUri,
      pending.state,
      'invalid_request',
      'the request is too large to keep while the user signs in: shorten state, nonce or redirect_uri',
    ),
  };
}

/**
 * Keeps a request while a signed-in user looks at the consent page, in KV
 * (AUTH_REQUEST_TTL): only a signed-in user gets here, and answerConsent
 * consumes it.
 */
export async function holdRequest(deps: Deps, pending: AuthorizationRequest): Promise<void> {
  await saveAuthRequest(deps.env.KV, pending);
}

/**
 * Approve: a code for an approved request (RFC 6749 §4.1.2), sent back with
 * the request's state. `ip` goes into the consent audit event.
 *
 * One D1 batch, which D1 runs as one transaction, holds the whole approval:
 * - the grant, widened to the union of every scope the user has approved
 *   for the client (the code's row refers to it by subquery, so it comes
 *   first);
 * - the code, whose UNIQUE request hash makes a second answer to the same
 *   request fail and roll the whole batch back: one request, one code, and no
 *   widened grant or audit event without it;
 * - when the user consented just now, the `consent_granted` audit event, so
 *   that the record of a consent exists exactly when the consent took effect.
 *
 * Remembered consent writes no grant: the code is inserted under the
 * remembered grant's id. The grant may have been read at a replica
 * (lookUpAtReplica) and revoked since, at the primary; the code's foreign key
 * then fails the batch, so a revoked grant is never made again by a replica's
 * stale yes, and the app gets no code (the user starts again and is asked).
 */
export async function approve(deps: Deps, approval: Approval, ip: string | null): Promise<ClientRedirect> {
  const { db } = deps;
  const { request, session, consented } = approval;
  const userId = session.user.id;
  const approved = widenedScope(approval.approvedBefore, request.scope);
  const code = await prepareCode(db, {
    requestId: request.id,
    clientId: request.clientId,
    userId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: request.scope.join(' '),
    resource: storedResources(deps.issuer, request.resource ?? null),
    nonce: request.nonce,
    claims: request.scope.includes('openid') ? userClaims(session.user, request.scope) : null,
    authTime: session.authTime,
    amr: session.amr,
    dpopJkt: request.dpopJkt ?? null,
    grantId: consented ? undefined : approval.rememberedGrantId,
  });
  try {
    if (consented) {
      await db.batch([
        upsertGrantStatement(db, userId, request.clientId, approved),
        code.insert,
        auditStatement(db, { type: 'consent_granted', userId, clientId: request.clientId, ip }),
      ]);
    } else if (approval.rememberedGrantId !== undefined) {
      await db.batch([code.insert]);
    } else {
      await db.batch([upsertGrantStatement(db, userId, request.clientId, approved), code.insert]);
    }
  } catch (error) {
    if (isUniqueViolation(error)) throw new PageError('Already answered', 'This request was already answered. Go back to the app.');
    if (isForeignKeyViolation(error)) {
      throw new PageError(
        'Access changed',
        'Your approval for this app was withdrawn a moment ago. Go back to the app and start again.',
        409,
      );
    }
    throw error;
  }
  return { redirectUri: request.redirectUri, params: { code: code.code, state: request.state } };
}

const answerParameters = z.object({
  request_id: z.string().regex(REQUEST_ID),
  decision: z.enum(['allow', 'deny']),
  csrf_token: z.string(),
});

/**
 * The user's answer on the consent page: `access_denied` back to the client
 * (RFC 6749 §4.1.2.1), or approve(). Only the user the page was shown to may
 * answer, and only once: the pending request is deleted first. Form errors,
 * an expired request and another user's answer throw PageError.
 */
export async function answerConsent(
  deps: Deps,
  form: Record<string, unknown>,
  session: SessionInfo | null,
  ip: string | null,
): Promise<ClientRedirect> {
  const answer = answerParameters.safeParse(form);
  if (!answer.success)
    throw new PageError('Invalid request', `The consent form is invalid: ${describeIssues(answer.error.issues, { input: form })}.`);
  const request = await loadAuthRequest<AuthorizationRequest>(deps.env.KV, answer.data.request_id);
  if (!request) throw new PageError('Request expired', 'This sign-in request has expired. Go back to the app and start again.');
  if (!session || session.user.id !== request.userId) {
    throw new PageError('Not allowed', 'This consent request belongs to another sign-in. Go back to the app and start again.', 403);
  }
  // The client (still registered?) and what the user approved before, in one D1 round trip.
  const { client, grant } = await lookUp(deps, request.clientId, session.idHash);
  if (!client) throw new PageError('Unknown app', 'The app that sent you here is no longer registered.');
  // As in resumeRequest: a redirect URI the client has dropped since (RFC 7592 §2.2) is not answered to.
  checkRedirectUri(client, request.redirectUri);
  await deleteAuthRequest(deps.env.KV, request.id);
  if (answer.data.decision === 'deny') {
    return errorRedirect(request.redirectUri, request.state, 'access_denied', 'the user denied the request');
  }
  return approve(deps, { request, session, approvedBefore: grant?.scope, consented: true }, ip);
}
