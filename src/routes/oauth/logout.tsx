import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../env';
import { PageError } from '../../errors';
import { clientIdParam, clientValueParam, redirectUriParam, tokenParam } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { csrfToken, verifyCsrf } from '../../middleware/csrf';
import { endSession, loadSession } from '../../middleware/session';
import { validatePage } from '../../middleware/validate';
import { type IdTokenHint, verifyIdTokenHint } from '../../services/tokens';
import { findClient } from '../../storage/clients';
import type { Client } from '../../storage/schema';
import type { SessionInfo } from '../../storage/sessions';
import { LogoutPage, SignedOutPage } from '../../views/logout';

/**
 * The end_session_endpoint (OIDC RP-Initiated Logout 1.0). The RP sends the
 * user here (GET or POST); a signed-in user confirms, then the session ends.
 * The user goes back to a post_logout_redirect_uri the client registered,
 * with `state` (§3), only when a recent id_token_hint names the very user who
 * confirms; everyone else sees the signed-out page. An unregistered URI is
 * never redirected to.
 */
export const logout = new Hono<AppEnv>();

/** RP-Initiated Logout §2 parameters; others (ui_locales, logout_hint) are ignored. */
const logoutSchema = z.object({
  id_token_hint: tokenParam.optional(),
  client_id: clientIdParam.optional(),
  post_logout_redirect_uri: redirectUriParam.optional(),
  state: clientValueParam.optional(),
});
const INVALID_LOGOUT = 'The sign-out request is invalid';
type LogoutParams = z.infer<typeof logoutSchema>;

interface LogoutTarget {
  client: Client | null;
  /** The verified id_token_hint's claims, and the token itself to carry through the confirmation form. */
  hint: { claims: IdTokenHint; token: string } | null;
  /** A registered URI that a recent hint vouches for: where the hint's own user may go back to. */
  redirectUri: string | null;
  state: string | null;
}

/**
 * Which client asks, and where its user may go afterwards; a page error for
 * anything that does not check out. Only an id_token_hint we issued, within
 * ID_TOKEN_HINT_MAX_AGE, can vouch for a redirect: anyone can register a
 * client, so a client_id alone must not turn this endpoint into an open
 * redirect (RFC 9700 §4.11.2). The URI must still be one the client
 * registered, compared exactly (RP-Initiated Logout §3).
 */
async function resolveTarget(c: Context<AppEnv>, params: LogoutParams): Promise<LogoutTarget> {
  let clientId = params.client_id;
  let hint: LogoutTarget['hint'] = null;
  if (params.id_token_hint !== undefined) {
    const claims = await verifyIdTokenHint(c.var.deps, params.id_token_hint);
    if (!claims) throw new PageError('Invalid request', 'The app sent an ID token this server did not issue.');
    if (clientId !== undefined && clientId !== claims.clientId) {
      throw new PageError('Invalid request', 'client_id does not match the ID token.');
    }
    clientId = claims.clientId;
    hint = { claims, token: params.id_token_hint };
  }
  const client = clientId === undefined ? null : ((await findClient(c.var.deps.db, clientId)) ?? null);
  if (clientId !== undefined && !client) throw new PageError('Unknown app', 'The app that sent you here is not registered.');
  const requested = params.post_logout_redirect_uri ?? null;
  if (requested !== null && !client?.postLogoutRedirectUris.includes(requested)) {
    throw new PageError('Invalid redirect', 'The app asked to send you to an address it has not registered. You have not been redirected.');
  }
  return { client, hint, redirectUri: hint?.claims.recent ? requested : null, state: params.state ?? null };
}

/**
 * Whether this browser's user may be sent back to the RP: the hint vouches
 * for the URI, and it names the signed-in user. A hint is a bearer token
 * anyone can hold (the attacker's own, for their own client): it says which
 * RP asks, not who is at this browser. Only a session of the hint's `sub`
 * ties the two (RP-Initiated Logout §2: the OP confirms the logout with the
 * End-User it would log out).
 */
function mayReturn(target: LogoutTarget, session: SessionInfo | null): target is LogoutTarget & { redirectUri: string } {
  return target.redirectUri !== null && session !== null && target.hint?.claims.sub === session.user.id;
}

/** Back to the RP (303: RFC 9700 §4.12, this answers a POST), with `state` (RP-Initiated Logout §3). */
function returnToClient(c: Context<AppEnv>, redirectUri: string, state: string | null) {
  const url = new URL(redirectUri);
  if (state !== null) url.searchParams.set('state', state);
  return c.redirect(url.href, 303);
}

async function logoutRequest(c: Context<AppEnv>, params: LogoutParams) {
  const target = await resolveTarget(c, params);
  const session = c.var.session;
  // Nobody to sign out, so nothing to confirm: say so, and send no one on.
  if (!session) return c.html(<SignedOutPage />);
  // Another user's (or a stale) hint: offer only to sign out, naming no client and carrying no target.
  const vouched = mayReturn(target, session);
  return c.html(
    <LogoutPage
      csrf={csrfToken(c)}
      userName={session.user.name}
      clientName={vouched ? (target.client?.name ?? null) : null}
      clientId={vouched ? (target.client?.id ?? null) : null}
      idTokenHint={vouched ? (target.hint?.token ?? null) : null}
      postLogoutRedirectUri={vouched ? target.redirectUri : null}
      state={vouched ? target.state : null}
    />,
  );
}

// A parameter sent twice is refused like any other bad one, as RFC 6749 §3.1
// does at the OAuth endpoints: there is no telling which of the two the RP meant.
logout.get('/', validatePage('query', logoutSchema, INVALID_LOGOUT), loadSession, async function endSessionGet(c) {
  return logoutRequest(c, c.req.valid('query'));
});

logout.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validatePage('form', logoutSchema, INVALID_LOGOUT),
  loadSession,
  async function endSessionPost(c) {
    return logoutRequest(c, c.req.valid('form'));
  },
);

logout.post(
  '/confirm',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  verifyCsrf,
  validatePage('form', logoutSchema, INVALID_LOGOUT),
  loadSession,
  async function confirmLogout(c) {
    // The form's fields are checked again, and against the session: a forged
    // form reaches only registered URIs, and only for the hint's own user.
    const target = await resolveTarget(c, c.req.valid('form'));
    const goBack = mayReturn(target, c.var.session);
    await endSession(c);
    return goBack ? returnToClient(c, target.redirectUri, target.state) : c.html(<SignedOutPage />);
  },
);
