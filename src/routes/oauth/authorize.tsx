import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../env';
import { type ErrorCode, OAuthError, PageError } from '../../errors';
import { clientIp } from '../../helpers/client-ip';
import { now } from '../../lib/crypto';
import { S256_CHALLENGE_PATTERN } from '../../lib/pkce';
import { limitBody, requireContentType } from '../../middleware/body';
import { csrfToken, verifyCsrf } from '../../middleware/csrf';
import { loadSession, sessionIdHash } from '../../middleware/session';
import { describeIssues } from '../../middleware/validate';
import { matchRedirectUri } from '../../services/redirect-uris';
import { allowedScopes, splitScope, userClaims } from '../../services/scopes';
import { auditStatement } from '../../storage/audit';
import { type AuthRequest, deleteAuthRequest, loadAuthRequest, newAuthRequestId, saveAuthRequest } from '../../storage/auth-requests';
import { clientQuery, findClient } from '../../storage/clients';
import { copyCodeToKv, prepareCode } from '../../storage/codes';
import { isUniqueViolation } from '../../storage/db';
import { findGrant, grantOfSessionQuery, upsertGrantStatement } from '../../storage/grants';
import type { Client, Grant } from '../../storage/schema';
import type { SessionInfo } from '../../storage/sessions';
import { sessionQuery, toSessionInfo } from '../../storage/sessions';
import { ConsentPage } from '../../views/consent';

/**
 * The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2).
 * GET validates the request, signs the user in if needed and shows consent;
 * POST takes the consent decision and redirects back with a code.
 */
export const authorize = new Hono<AppEnv>();

const single = (max: number) => z.string().max(max, `is longer than ${max} characters`);
const REQUEST_ID = /^[A-Za-z0-9_-]{43}$/;
const PROMPTS = new Set(['none', 'login', 'consent']);

// Hono hands a repeated query parameter over as an array: a plain string schema
// refuses it, as RFC 6749 §3.1 requires ("MUST NOT be included more than once").

/** Step 1 fields: the client and where to send it back. Errors here never redirect. */
const targetSchema = z.object({ client_id: single(128), redirect_uri: single(2000) });

/** Step 2 fields, checked only once the redirect URI is trusted; errors redirect. */
const requestSchema = z.object({
  response_type: single(64).optional(),
  scope: single(1000).optional(),
  state: single(1000).optional(),
  nonce: single(1000).optional(),
  code_challenge: single(128).optional(),
  code_challenge_method: single(16).optional(),
  prompt: single(100).optional(),
  max_age: single(10).optional(),
  login_hint: single(254).optional(),
});

const resumeSchema = z.object({ request_id: z.string().regex(REQUEST_ID) });

/** Parameters a client sent, with a repeated one kept as an array so zod can refuse it. */
function queryParams(c: Context<AppEnv>): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(c.req.queries())) params[key] = values.length === 1 ? values[0]! : values;
  return params;
}

/** The redirect back to the client: query parameters plus `iss` (RFC 9207 §2). */
function clientRedirect(c: Context<AppEnv>, redirectUri: string, params: Record<string, string | null | undefined>): URL {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) if (value != null) url.searchParams.append(key, value);
  url.searchParams.append('iss', c.var.deps.issuer);
  return url;
}

/**
 * An error sent back to the client (RFC 6749 §4.1.2.1). Only ever called once
 * the client and redirect URI are validated. POST answers use 303, never 307,
 * so the browser does not re-post the form to the client (RFC 9700 §4.12).
 */
function errorRedirect(c: Context<AppEnv>, redirectUri: string, state: string | null, code: ErrorCode, description: string) {
  const url = clientRedirect(c, redirectUri, { error: code, error_description: description, state });
  return c.redirect(url.href, c.req.method === 'POST' ? 303 : 302);
}

/**
 * Everything the endpoint reads, in one D1 round trip: the browser's session
 * (into c.var.session), the client, and the session user's grant for it
 * (for remembered consent).
 */
async function lookUp(c: Context<AppEnv>, clientId: string): Promise<{ client: Client | undefined; grant: Grant | null }> {
  const db = c.var.deps.db;
  const idHash = await sessionIdHash(c);
  if (!idHash) {
    c.set('session', null);
    return { client: await findClient(db, clientId), grant: null };
  }
  const [session, clients, grants] = await db.batch([
    sessionQuery(db, idHash),
    clientQuery(db, clientId),
    grantOfSessionQuery(db, idHash, clientId),
  ]);
  c.set('session', toSessionInfo(idHash, session));
  return { client: clients[0], grant: grants[0] ?? null };
}

/** Step 1: the client must exist and the redirect URI must be one of its own. */
async function resolveClient(c: Context<AppEnv>, params: Record<string, unknown>) {
  const target = targetSchema.safeParse(params);
  if (!target.success) {
    throw new PageError('Invalid request', `The app sent an invalid request: ${describeIssues(target.error.issues)}.`);
  }
  const { client, grant } = await lookUp(c, target.data.client_id);
  if (!client) throw new PageError('Unknown app', 'The app that sent you here is not registered with this server.');
  if (!matchRedirectUri(client.redirectUris, target.data.redirect_uri)) {
    throw new PageError('Invalid redirect', 'The app asked to send you to an address it has not registered. You have not been redirected.');
  }
  return { client, grant, redirectUri: target.data.redirect_uri };
}

/** Step 2: the rest of the request, as an AuthRequest, or an OAuthError to redirect. */
function parseRequest(params: Record<string, unknown>, client: Client, redirectUri: string): AuthRequest {
  const parsed = requestSchema.safeParse(params);
  if (!parsed.success) throw new OAuthError('invalid_request', { description: describeIssues(parsed.error.issues) });
  const p = parsed.data;
  if (p.response_type !== 'code') {
    // OAuth 2.1 §4.1.1: only the code flow; no implicit or hybrid responses.
    throw new OAuthError('unsupported_response_type', { description: 'response_type must be code' });
  }
  if (!client.grantTypes.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', { description: 'this client is not registered for the authorization code grant' });
  }
  // RFC 9700 §2.1.1: PKCE for every client, and S256 only (plain reveals the verifier).
  if (!p.code_challenge) throw new OAuthError('invalid_request', { description: 'code_challenge is required (PKCE, RFC 7636)' });
  if (p.code_challenge_method !== 'S256') {
    throw new OAuthError('invalid_request', { description: 'code_challenge_method must be S256' });
  }
  if (!S256_CHALLENGE_PATTERN.test(p.code_challenge)) {
    throw new OAuthError('invalid_request', { description: 'code_challenge must be 43 base64url characters (RFC 7636 §4.2)' });
  }
  const prompt = splitScope(p.prompt);
  if (prompt.some((value) => !PROMPTS.has(value)))
    throw new OAuthError('invalid_request', { description: 'prompt may be none, login or consent' });
  // OIDC Core §3.1.2.1: none must stand alone.
  if (prompt.includes('none') && prompt.length > 1)
    throw new OAuthError('invalid_request', { description: 'prompt=none cannot be combined' });
  let maxAge: number | null = null;
  if (p.max_age !== undefined) {
    if (!/^\d{1,9}$/.test(p.max_age)) throw new OAuthError('invalid_request', { description: 'max_age must be a whole number of seconds' });
    maxAge = Number(p.max_age);
  }
  return {
    id: newAuthRequestId(),
    clientId: client.id,
    redirectUri,
    scope: allowedScopes(p.scope, client.scope),
    state: p.state ?? null,
    nonce: p.nonce ?? null,
    codeChallenge: p.code_challenge,
    prompt,
    maxAge,
    loginHint: p.login_hint ?? null,
    createdAt: now(),
    userId: null,
  };
}

/**
 * Step 4: a code for an approved request. Records the approval (widening the
 * grant to the union of what the user has approved) and the code in one D1
 * transaction, keeps the code's KV copy, and redirects back with code, state
 * and iss (RFC 6749 §4.1.2, RFC 9207): 303 after a POST (RFC 9700 §4.12).
 */
async function issueCode(
  c: Context<AppEnv>,
  request: AuthRequest,
  session: SessionInfo,
  client: Client,
  approvedBefore: string | undefined,
  consented: boolean,
) {
  const db = c.var.deps.db;
  const approved = [...new Set([...splitScope(approvedBefore), ...request.scope])].join(' ');
  const code = await prepareCode(db, {
    requestId: request.id,
    clientId: client.id,
    userId: session.user.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: request.scope.join(' '),
    nonce: request.nonce,
    claims: request.scope.includes('openid') ? userClaims(session.user, request.scope) : null,
    authTime: session.authTime,
  });
  // A second answer to the same request fails on the code's UNIQUE
  // request_hash and rolls back whole: one request, one code.
  try {
    await db.batch([
      upsertGrantStatement(db, session.user.id, client.id, approved),
      code.insert,
      ...(consented
        ? [auditStatement(db, { type: 'consent_granted', userId: session.user.id, clientId: client.id, ip: clientIp(c) })]
        : []),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw new PageError('Already answered', 'This request was already answered. Go back to the app.');
    throw error;
  }
  await copyCodeToKv(c.env.KV, code.hash, {
    clientId: client.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    expiresAt: code.expiresAt,
  });
  const url = clientRedirect(c, request.redirectUri, { code: code.code, state: request.state });
  return c.redirect(url.href, c.req.method === 'POST' ? 303 : 302);
}

/**
 * Step 3: the user. Sign in when there is no session, when `prompt=login`
 * asks for a fresh sign-in, or when the last sign-in is older than `max_age`
 * (OIDC Core §3.1.2.1); then consent, remembered or asked for.
 */
async function continueRequest(c: Context<AppEnv>, request: AuthRequest, client: Client, grant: Grant | null) {
  const session = c.var.session;
  const needsLogin =
    !session ||
    (request.prompt.includes('login') && session.authTime < request.createdAt) ||
    // Elapsed time is measured at the request, not now: after the user signs in
    // again the resumed request must pass, even with max_age=0.
    (request.maxAge !== null && request.createdAt - session.authTime > request.maxAge);
  if (needsLogin) {
    if (request.prompt.includes('none')) {
      return errorRedirect(c, request.redirectUri, request.state, 'login_required', 'the user is not signed in');
    }
    await saveAuthRequest(c.env.KV, request);
    const login = new URL('/login', c.req.url);
    login.searchParams.set('return_to', `/oauth2/authorize?request_id=${request.id}`);
    // OIDC Core §3.1.2.1: login_hint prefills the email on the sign-in page.
    if (request.loginHint) login.searchParams.set('login_hint', request.loginHint);
    return c.redirect(login.pathname + login.search, 302);
  }
  // Remembered consent: a user who already approved every requested scope
  // for this client is not asked again, unless prompt=consent says so.
  if (!request.prompt.includes('consent')) {
    const approved = new Set(splitScope(grant?.scope));
    if (grant && request.scope.every((scope) => approved.has(scope))) return issueCode(c, request, session, client, grant.scope, false);
  }
  if (request.prompt.includes('none')) {
    return errorRedirect(c, request.redirectUri, request.state, 'consent_required', 'the user has not approved this app');
  }
  const pending: AuthRequest = { ...request, userId: session.user.id };
  await saveAuthRequest(c.env.KV, pending);
  c.header('Cache-Control', 'no-store');
  return c.html(
    <ConsentPage
      csrf={csrfToken(c)}
      requestId={pending.id}
      clientName={client.name}
      redirectHost={new URL(pending.redirectUri).host || pending.redirectUri}
      userName={session.user.name}
      scopes={pending.scope}
    />,
  );
}

authorize.get('/', async function authorizationRequest(c) {
  const params = queryParams(c);
  if ('request_id' in params) {
    // Back from /login: the request was validated before and kept in KV.
    const resume = resumeSchema.safeParse(params);
    const request = resume.success ? await loadAuthRequest(c.env.KV, resume.data.request_id) : null;
    if (!request) throw new PageError('Request expired', 'This sign-in request has expired. Go back to the app and start again.');
    const { client, grant } = await lookUp(c, request.clientId);
    if (!client) throw new PageError('Unknown app', 'The app that sent you here is no longer registered.');
    return continueRequest(c, request, client, grant);
  }
  const { client, grant, redirectUri } = await resolveClient(c, params);
  let request: AuthRequest;
  try {
    request = parseRequest(params, client, redirectUri);
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    const state = typeof params.state === 'string' ? params.state.slice(0, 1000) : null;
    return errorRedirect(c, redirectUri, state, error.code, error.message);
  }
  return continueRequest(c, request, client, grant);
});

const decisionSchema = z.object({
  request_id: z.string().regex(REQUEST_ID),
  decision: z.enum(['allow', 'deny']),
  csrf_token: z.string(),
});

authorize.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  verifyCsrf,
  loadSession,
  async function consentDecision(c) {
    const form = decisionSchema.safeParse(await c.req.parseBody());
    if (!form.success) throw new PageError('Invalid request', `The consent form is invalid: ${describeIssues(form.error.issues)}.`);
    const request = await loadAuthRequest(c.env.KV, form.data.request_id);
    if (!request) throw new PageError('Request expired', 'This sign-in request has expired. Go back to the app and start again.');
    // Only the user the consent page was shown to may answer it.
    const session = c.var.session;
    if (!session || session.user.id !== request.userId) {
      throw new PageError('Not allowed', 'This consent request belongs to another sign-in. Go back to the app and start again.', 403);
    }
    const client = await findClient(c.var.deps.db, request.clientId);
    if (!client) throw new PageError('Unknown app', 'The app that sent you here is no longer registered.');
    await deleteAuthRequest(c.env.KV, request.id);

    if (form.data.decision === 'deny') {
      return errorRedirect(c, request.redirectUri, request.state, 'access_denied', 'the user denied the request');
    }
    const existing = await findGrant(c.var.deps.db, session.user.id, client.id);
    return issueCode(c, request, session, client, existing?.scope, true);
  },
);
