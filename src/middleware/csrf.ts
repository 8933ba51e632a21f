import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { readCookie, writeCookie } from '../helpers/cookies';
import { randomSecret, timingSafeEqual } from '../lib/crypto';

const CSRF_COOKIE = 'tg_csrf';
export const CSRF_FIELD = 'csrf_token';

/**
 * The CSRF token for a form on this page: a random value kept in an HttpOnly
 * cookie and repeated in a hidden field (double submit). A cross-site page can
 * neither read the cookie nor, with SameSite=Lax, send it on a POST.
 */
export function csrfToken(c: Context<AppEnv>): string {
  const existing = readCookie(c, CSRF_COOKIE);
  if (existing && existing.length >= 43) return existing;
  const token = randomSecret();
  writeCookie(c, CSRF_COOKIE, token);
  return token;
}

/**
 * Guards every form POST: the Origin, when the browser names one, must be the
 * issuer's (the public origin of every page; behind a proxy the request URL
 * may name another host), and the form's token must equal the cookie's.
 * Our pages send `Referrer-Policy: no-referrer`, under which browsers send
 * `Origin: null` for form posts (Fetch §3.2.5): `null` says nothing, so the
 * token decides.
 */
export const verifyCsrf: MiddlewareHandler<AppEnv> = async function verifyCsrf(c, next) {
  const origin = c.req.header('Origin');
  if (origin && origin !== 'null' && origin !== new URL(c.var.deps.issuer).origin) {
    throw new PageError('Request refused', 'This form was sent from another site.', 403);
  }
  const body = await c.req.parseBody();
  const sent = body[CSRF_FIELD];
  const expected = readCookie(c, CSRF_COOKIE);
  if (typeof sent !== 'string' || !expected || !timingSafeEqual(sent, expected)) {
    throw new PageError(
      'Form expired',
      'This form has expired or was not sent from this site. Go back, reload the page and try again.',
      403,
    );
  }
  await next();
};
