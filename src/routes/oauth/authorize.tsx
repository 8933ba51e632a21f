import { type Context, Hono, type Next } from 'hono';
import type { AppEnv } from '../../env';
import { clientIp, clientNetwork } from '../../helpers/client-ip';
import { clearAuthRequestCookie, readAuthRequestCookie, readBookmarkCookie, writeAuthRequestCookie } from '../../helpers/cookies';
import { limitBody, requireContentType } from '../../middleware/body';
import { csrfToken, verifyCsrf } from '../../middleware/csrf';
import { loadSession, sessionIdHash } from '../../middleware/session';
import {
  type AuthorizationRequest,
  answerConsent,
  approve,
  type ClientRedirect,
  decide,
  holdRequest,
  type RequestParameters,
  readRequest,
  sealForSignIn,
} from '../../services/authorization';
import { resourceNames } from '../../services/resources';
import type { Client, User } from '../../storage/schema';
import { ConsentPage } from '../../views/consent';

/**
 * The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): an adapter
 * from HTTP to services/authorization.ts. GET reads the request and does what
 * the service decides (sign in, consent page, or a code); POST takes the
 * answer from the consent page. A request on its way through /login travels
 * sealed in a cookie (helpers/cookies.ts), one per request id.
 */
export const authorize = new Hono<AppEnv>();

/** The query's parameters, with a repeated one kept as an array so that its schema refuses it. */
function queryParams(c: Context<AppEnv>): RequestParameters {
  const params: RequestParameters = {};
  for (const [key, values] of Object.entries(c.req.queries())) params[key] = values.length === 1 ? values[0]! : values;
  return params;
}

/** A form body's parameters, as queryParams; a file field is read as an empty value, which no check accepts. */
async function formParams(c: Context<AppEnv>): Promise<RequestParameters> {
  const params: RequestParameters = {};
  for (const [key, value] of Object.entries(await c.req.parseBody({ all: true }))) {
    const values = (Array.isArray(value) ? value : [value]).map((item) => (typeof item === 'string' ? item : ''));
    params[key] = values.length === 1 ? values[0]! : values;
  }
  return params;
}

/**
 * The redirect back to the client, with `iss` (RFC 9207 §2). POST answers use
 * 303, never 307, so the browser does not re-post the form to the client
 * (RFC 9700 §4.12).
 */
function redirectToClient(c: Context<AppEnv>, to: ClientRedirect) {
  const url = new URL(to.redirectUri);
  for (const [key, value] of Object.entries(to.params)) if (value != null) url.searchParams.append(key, value);
  url.searchParams.append('iss', c.var.deps.issuer);
  return c.redirect(url.href, c.req.method === 'POST' ? 303 : 302);
}

/** To the sign-in page, which comes back to the kept request by its id alone. */
function redirectToSignIn(c: Context<AppEnv>, pending: AuthorizationRequest) {
  const login = new URL('/login', c.req.url);
  login.searchParams.set('return_to', `/oauth2/authorize?request_id=${pending.id}`);
  // OIDC Core §3.1.2.1: login_hint prefills the email on the sign-in page.
  if (pending.loginHint) login.searchParams.set('login_hint', pending.loginHint);
  return c.redirect(login.pathname + login.search, 302);
}

/**
 * Hono answers HEAD with the GET handler, and a GET here changes state (a
 * code, a kept request). HEAD must not (RFC 9110 §9.2.1, §9.3.2): link
 * checkers and prefetchers send it. So it gets 405 with the methods that
 * exist (RFC 9110 §15.5.6), before anything is read or written.
 */
async function refuseHead(c: Context<AppEnv>, next: Next) {
  if (c.req.method === 'HEAD') return c.body(null, 405, { Allow: 'GET, POST' });
  await next();
}

function consentPage(c: Context<AppEnv>, pending: AuthorizationRequest, client: Client, user: User) {
  c.header('Cache-Control', 'no-store');
  return c.html(
    <ConsentPage
      csrf={csrfToken(c)}
      requestId={pending.id}
      clientName={client.name}
      redirectHost={new URL(pending.redirectUri).host || pending.redirectUri}
      userName={user.name}
      scopes={pending.scope}
      resources={resourceNames(c.var.deps.issuer, pending.resource ?? null)}
      unverified={client.ownerId === null}
    />,
  );
}

authorize.get('/', refuseHead, async function authorizationRequest(c) {
  return answerRequest(c, queryParams(c));
});

/** An authorization request, from the query (GET) or a form body (POST, OIDC Core §3.1.2.1), through the service's pipeline. */
async function answerRequest(c: Context<AppEnv>, params: RequestParameters) {
  const deps = c.var.deps;
  const read = await readRequest(
    deps,
    params,
    await sessionIdHash(c),
    (id) => readAuthRequestCookie(c, id),
    clientNetwork(c),
    readBookmarkCookie(c),
  );
  if (!read.ok) return redirectToClient(c, read.to);
  const decision = decide(read);
  // A carried request is read once; one that goes to sign in again is sealed anew under the same name.
  if (read.carried && decision.kind !== 'sign-in') clearAuthRequestCookie(c, read.request.id);
  switch (decision.kind) {
    case 'refuse':
      return redirectToClient(c, decision.to);
    case 'approve':
      return redirectToClient(c, await approve(deps, decision.approval, clientIp(c)));
    case 'sign-in': {
      const held = await sealForSignIn(deps, decision.pending);
      if (!held.ok) {
        if (read.carried) clearAuthRequestCookie(c, read.request.id);
        return redirectToClient(c, held.to);
      }
      writeAuthRequestCookie(c, decision.pending.id, held.sealed);
      return redirectToSignIn(c, decision.pending);
    }
    case 'consent':
      await holdRequest(deps, decision.pending);
      return consentPage(c, decision.pending, read.client, decision.user);
  }
}

/**
 * OIDC Core §3.1.2.1: the authorization endpoint takes a request by POST as
 * well as GET, which a client sending a long request, or a `request_uri`
 * from PAR (RFC 9126 §4), may use. Such a body names its `client_id`; the
 * consent page's answer never does (it carries `request_id`, `decision` and
 * the CSRF token), so it goes on to the CSRF check and answerConsent. An
 * authorization request needs no CSRF token: like a GET one it comes from
 * another site by design, and every answer goes only to a registered
 * redirect URI.
 */
async function authorizationRequestByPost(c: Context<AppEnv>, next: Next) {
  const params = await formParams(c);
  if (!('client_id' in params) || 'decision' in params) return next();
  return answerRequest(c, params);
}

authorize.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  authorizationRequestByPost,
  verifyCsrf,
  loadSession,
  async function consentDecision(c) {
    return redirectToClient(c, await answerConsent(c.var.deps, await c.req.parseBody(), c.var.session, clientIp(c)));
  },
);
