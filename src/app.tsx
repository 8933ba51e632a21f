import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import {
  DEVICE_AUTHORIZATION_PATH,
  DEVICE_VERIFICATION_PATH,
  MCP_PATH,
  PAR_PATH,
  PROTECTED_RESOURCE_METADATA_PREFIX,
  TURNSTILE_ORIGIN,
} from './config';
import { createDeps } from './deps';
import type { AppEnv } from './env';
import { fromHttpException, OAuthError, oauthErrorResponse, PageError } from './errors';
import { account } from './routes/account';
import { accountClients } from './routes/account-clients';
import { accountSessions } from './routes/account-sessions';
import { admin } from './routes/admin';
import { adminApi } from './routes/admin-api';
import { books } from './routes/books';
import { clients } from './routes/clients';
import { demo } from './routes/demo';
import { devMailbox } from './routes/dev-mailbox';
import { device } from './routes/device';
import { emailVerification } from './routes/email-verification';
import { pages } from './routes/login';
import { mcp } from './routes/mcp';
import { authorize } from './routes/oauth/authorize';
import { deviceAuthorization } from './routes/oauth/device-authorization';
import { introspect } from './routes/oauth/introspect';
import { logout } from './routes/oauth/logout';
import { par } from './routes/oauth/par';
import { register } from './routes/oauth/register';
import { revoke } from './routes/oauth/revoke';
import { token } from './routes/oauth/token';
import { userinfo } from './routes/oauth/userinfo';
import { passkeyAccount, passkeySignIn } from './routes/passkeys';
import { passwordReset } from './routes/password-reset';
import { protectedResource } from './routes/protected-resource';
import { staticAssets } from './routes/static';
import { twoFactorAccount, twoFactorSignIn } from './routes/two-factor';
import { upstream, upstreamAccount } from './routes/upstream';
import { users } from './routes/users';
import { wellKnown } from './routes/well-known';
import { recordServerError } from './services/admin-dashboard';
import { turnstileSiteKey } from './services/turnstile';
import { ErrorPage } from './views/error';

export const app = new Hono<AppEnv>();

// Every response: no framing (RFC 9700 §4.16 clickjacking), no Referer leaking
// codes or state (RFC 9700 §4.2.4), no MIME sniffing, and a CSP with no inline
// script or style at all. `widgetOrigin`: the one other origin a page may load
// a script and a frame from (Turnstile's challenge, which Cloudflare documents
// as needing exactly script-src and frame-src).
function hardenedHeaders(widgetOrigin?: string) {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      // Only same-origin files: the demo app's module, and its fetch calls.
      scriptSrc: widgetOrigin ? ["'self'", widgetOrigin] : ["'self'"],
      ...(widgetOrigin ? { frameSrc: [widgetOrigin] } : {}),
      connectSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    crossOriginResourcePolicy: false,
    crossOriginOpenerPolicy: 'same-origin',
  });
}
const everyPage = hardenedHeaders();
const signInWithTurnstile = hardenedHeaders(TURNSTILE_ORIGIN);

app.use(function securityHeaders(c, next) {
  // Turnstile's origin only where its challenge can appear, and only when it is configured.
  const turnstile = c.req.path === '/login' && turnstileSiteKey(c.env) !== null;
  return (turnstile ? signInWithTurnstile : everyPage)(c, next);
});

app.use(async function requestContext(c, next) {
  c.set('deps', createDeps(c.env));
  await next();
  // Pages carry CSRF tokens and personal data: never cache them.
  if (c.res.headers.get('Content-Type')?.startsWith('text/html') && !c.res.headers.has('Cache-Control')) {
    c.res.headers.set('Cache-Control', 'no-store');
  }
});

app.route(PROTECTED_RESOURCE_METADATA_PREFIX, protectedResource);
app.route('/.well-known', wellKnown);
app.route('/oauth2/authorize', authorize);
app.route('/oauth2/token', token);
app.route(DEVICE_AUTHORIZATION_PATH, deviceAuthorization);
app.route(PAR_PATH, par);
app.route('/oauth2/register', register);
app.route('/oauth2/revoke', revoke);
app.route('/oauth2/introspect', introspect);
app.route('/oauth2/logout', logout);
app.route('/oauth2/userinfo', userinfo);
app.route('/api/admin', adminApi);
app.route('/api', users);
app.route('/api/clients', clients);
app.route('/api/books', books);
app.route(MCP_PATH, mcp);
app.route('/account/clients', accountClients);
app.route('/account/passkeys', passkeyAccount);
app.route('/account/sessions', accountSessions);
app.route('/account/two-factor', twoFactorAccount);
app.route('/account/providers', upstreamAccount);
app.route('/account', account);
app.route('/admin', admin);
app.route('/login/passkey', passkeySignIn);
app.route('/login/two-factor', twoFactorSignIn);
app.route('/login/upstream', upstream);
app.route('/demo', demo);
app.route(DEVICE_VERIFICATION_PATH, device);
app.route('/static', staticAssets);
app.route('/', pages);
app.route('/', passwordReset);
app.route('/', emailVerification);
app.route('/dev', devMailbox);

app.get('/', (c) => c.redirect('/account', 302));

app.notFound((c) =>
  oauthErrorResponse(
    new OAuthError('not_found', { status: 404, description: `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}` }),
  ),
);

/**
 * Counts an unexpected error for the admin dashboard, after the response
 * (waitUntil): best effort, since the error may be D1's own. Only 500s count:
 * a client's bad request costs no write.
 */
function countServerError(c: Context<AppEnv>): void {
  try {
    c.executionCtx.waitUntil(recordServerError(c.var.deps ?? createDeps(c.env)).catch(() => undefined));
  } catch {
    // No execution context (a test calling app.request) or no bindings: nothing to count with.
  }
}

app.onError(function handleError(error, c) {
  if (error instanceof OAuthError) return oauthErrorResponse(error);
  if (error instanceof PageError) return c.html(<ErrorPage title={error.title} message={error.message} />, error.status);
  if (error instanceof HTTPException) return oauthErrorResponse(fromHttpException(error));
  // Unexpected: log what failed, never request data, and answer a bare 500
  // with nothing internal on the wire. Drizzle's query errors repeat the
  // query's parameters (emails, hashes) in their message, so for those only
  // the driver's own error underneath is logged.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  console.error('unhandled error:', cause instanceof Error ? `${cause.name}: ${cause.message}` : 'non-Error thrown');
  countServerError(c);
  return oauthErrorResponse(new OAuthError('server_error', { status: 500, description: 'internal server error' }));
});
