import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { CookieOptions } from 'hono/utils/cookie';
import { DEVICE_TOKEN_TTL } from '../config';
import type { AppEnv } from '../env';

/**
 * Cookie names and attributes follow the issuer: on https every cookie is
 * Secure and `__Host-` prefixed (bound to this host, path /, no Domain);
 * plain http is only for local development.
 */
function isSecure(c: Context<AppEnv>): boolean {
  return c.var.deps.issuer.startsWith('https://');
}

export function cookieName(c: Context<AppEnv>, name: string): string {
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
