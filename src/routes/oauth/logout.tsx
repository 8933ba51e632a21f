import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../env';
import { PageError } from '../../errors';
import { clientIdParam, clientValueParam, redirectUriParam, tokenParam } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { csrfToken, verifyCsrf } from '../../middleware/csrf';
import { endSession, loadSession } from '../../middleware/session';
import { validatePage } from '../../middleware/validate';
import { verifyIdTokenHint } from '../../services/tokens';
import { findClient } from '../../storage/clients';
import type { Client } from '../../storage/schema';
import { LogoutPage, SignedOutPage } from '../../views/logout';

/**
 * The end_session_endpoint (OIDC RP-Initiated Logout 1.0). The RP sends the
 * user here (GET or POST); a signed-in user confirms, then the session ends
 * and the user goes back to a post_logout_redirect_uri the client registered,
 * with `state`. An unregistered URI is never redirected to.
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
  /** The verified id_token_hint, carried through the confirmation form. */
  idTokenHint: string | null;
  redirectUri: string | null;
  state: string | null;
}

/**
 * Which client asks, and where the user may go afterwards; a page error for
 * anything that does not check out. The user is sent back only when an
 * id_token_hint we issued vouches for the request: anyone can register a
 * client, so a client_id alone must not turn this endpoint into an open
 * redirect (RFC 9700 §4.11.2). The URI must still be one the client registered.
 */
async function resolveTarget(c: Context<AppEnv>, params: LogoutParams): Promise<LogoutTarget> {
  let clientId = params.client_id;
  if (params.id_token_hint !== undefined) {
    const hint = await verifyIdTokenHint(c.var.deps, params.id_token_hint);
    if (!hint) throw new PageError('Invalid request', 'The app sent an ID token this server did not issue.');
    if (clientId !== undefined && clientId !== hint.clientId) {
      throw new PageError('Invalid request', 'client_id does not match the ID token.');
    }
    clientId = hint.clientId;
  }
  const client = clientId === undefined ? null : ((await findClient(c.var.deps.db, clientId)) ?? null);
  if (clientId !== undefined && !client) throw new PageError('Unknown app', 'The app that sent you here is not registered.');
  const requested = params.post_logout_redirect_uri ?? null;
  if (requested !== null && !client?.postLogoutRedirectUris.includes(requested)) {
    throw new PageError('Invalid redirect', 'The app asked to send you to an address it has not registered. You have not been redirected.');
  }
  const idTokenHint = params.id_token_hint ?? null;
  return { client, idTokenHint, redirectUri: idTokenHint ? requested : null, state: params.state ?? null };
}

function finish(c: Context<AppEnv>, target: LogoutTarget) {
  if (!target.redirectUri) return c.html(<SignedOutPage />);
  const url = new URL(target.redirectUri);
  if (target.state !== null) url.searchParams.set('state', target.state);
  return c.redirect(url.href, c.req.method === 'POST' ? 303 : 302);
}

async function logoutRequest(c: Context<AppEnv>, params: LogoutParams) {
  const target = await resolveTarget(c, params);
  const session = c.var.session;
  // Nobody to sign out: go straight back (or say so).
  if (!session) return finish(c, target);
  return c.html(
    <LogoutPage
      csrf={csrfToken(c)}
      userName={session.user.name}
      clientName={target.client?.name ?? null}
      clientId={target.client?.id ?? null}
      idTokenHint={target.idTokenHint}
      postLogoutRedirectUri={target.redirectUri}
      state={target.state}
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
    // The form's fields are checked again: a forged form still reaches only registered URIs.
    const target = await resolveTarget(c, c.req.valid('form'));
    await endSession(c);
    return finish(c, target);
  },
);
