import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { CookieOptions } from 'hono/utils/cookie';
import { AUTH_REQUEST_COOKIE_LIMIT, AUTH_REQUEST_TTL, DEVICE_TOKEN_TTL, REPLICA_MAX_STALENESS } from '../config';
import type { AppEnv } from '../env';

/**
 * Cookie names and attributes follow the issuer: on https every cookie is
 * Secure and `__Host-` prefixed (bound to this host, path /, no Domain);
 * plain http is only for local development.
 */
function isSecure(c: Context<AppEnv>): boolean {
  return c.var.deps.issuer.startsWith('https://');
}

function cookieName(c: Context<AppEnv>, name: string): string {
  return isSecure(c) ? `__Host-${name}` : name;
}

function options(c: Context<AppEnv>, maxAge?: number): CookieOptions {
  return { path: '/', httpOnly: true, sameSite: 'Lax', secure: isSecure(c), ...(maxAge ? { maxAge } : {}) };
}

export function readCookie(c: Context<AppEnv>, name: string): string | undefined {
  return getCookie(c, cookieName(c, name));
}

export function writeCookie(c: Context<AppEnv>, name: string, value: string, maxAge?: number): void {
  setCookie(c, cookieName(c, name), value, options(c, maxAge));
}

export function clearCookie(c: Context<AppEnv>, name: string): void {
  deleteCookie(c, cookieName(c, name), options(c));
}

/**
 * The device cookie (OWASP "device cookies"): a signed token saying this
 * browser signed in to an account before (services/sign-in.ts). HttpOnly,
 * and `__Host-` and Secure on https, like every cookie here.
 */
const DEVICE_COOKIE = 'tg_device';

export function readDeviceCookie(c: Context<AppEnv>): string | undefined {
  return readCookie(c, DEVICE_COOKIE);
}

export function writeDeviceCookie(c: Context<AppEnv>, token: string): void {
  writeCookie(c, DEVICE_COOKIE, token, DEVICE_TOKEN_TTL);
}

/**
 * Pending authorization requests on their way through /login, one cookie per
 * request id (`tg_authreq_<id>`) so that two tabs signing in do not overwrite
 * each other. The value is sealed (services/authorization/sealed-request.ts).
 * SameSite=Lax so it comes back on the top-level redirect from /login, and
 * HttpOnly, `__Host-` and Secure on https like every cookie here; it lives as
 * long as the request (AUTH_REQUEST_TTL).
 */
const AUTH_REQUEST_COOKIE = 'tg_authreq_';

export function readAuthRequestCookie(c: Context<AppEnv>, id: string): string | undefined {
  return readCookie(c, AUTH_REQUEST_COOKIE + id);
}

/**
 * Sets request `id`'s cookie, first dropping the oldest others so that the
 * browser holds at most AUTH_REQUEST_COOKIE_LIMIT: another site can send a
 * browser to start requests at will, and every one would otherwise ride along
 * on each request to Tollgate until it expires. Oldest first is the Cookie
 * header's own order (RFC 6265 §5.4, step 2).
 */
export function writeAuthRequestCookie(c: Context<AppEnv>, id: string, sealed: string): void {
  const prefix = cookieName(c, AUTH_REQUEST_COOKIE);
  const others = Object.keys(getCookie(c)).filter((name) => name.startsWith(prefix) && name !== prefix + id);
  const excess = others.length - (AUTH_REQUEST_COOKIE_LIMIT - 1);
  for (const name of others.slice(0, Math.max(excess, 0))) deleteCookie(c, name, options(c));
  writeCookie(c, AUTH_REQUEST_COOKIE + id, sealed, AUTH_REQUEST_TTL);
}

export function clearAuthRequestCookie(c: Context<AppEnv>, id: string): void {
  clearCookie(c, AUTH_REQUEST_COOKIE + id);
}

/**
 * The browser's last write, as a D1 bookmark (D1 read replication, Sessions
 * API), so that its next pages read at a replica at least that fresh and show
 * what it just did (read-your-writes): a grant revoked on /account is gone
 * from the list that follows. It lives REPLICA_MAX_STALENESS: a replica used
 * after that has the write anyway (services/replica.ts), and the cookie rides
 * on no more requests than it must. HttpOnly, `__Host-` and Secure on https
 * like every cookie here.
 */
const BOOKMARK_COOKIE = 'tg_bookmark';
/** A D1 bookmark: hex groups and dashes (`00000000-00000007-00000000-<32 hex>`). Anything else is ignored. */
const BOOKMARK = /^[0-9a-f]{1,64}(-[0-9a-f]{1,64}){1,7}$/i;

export function readBookmarkCookie(c: Context<AppEnv>): string | undefined {
  const value = readCookie(c, BOOKMARK_COOKIE);
  return value && BOOKMARK.test(value) ? value : undefined;
}

/** Keeps the bookmark of the browser's last write; none (a write D1 gave no bookmark for) keeps the cookie as it is. */
export function writeBookmarkCookie(c: Context<AppEnv>, bookmark: string | null): void {
  if (bookmark && BOOKMARK.test(bookmark)) writeCookie(c, BOOKMARK_COOKIE, bookmark, REPLICA_MAX_STALENESS);
}
