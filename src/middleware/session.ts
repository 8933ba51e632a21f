import type { Context, MiddlewareHandler } from 'hono';
import { SESSION_TTL } from '../config';
import type { AppEnv } from '../env';
import { clearCookie, readCookie, writeCookie } from '../helpers/cookies';
import { hashSecret } from '../lib/crypto';
import { createSession, deleteSession, findSession } from '../storage/sessions';

const SESSION_COOKIE = 'tg_session';
/** A session cookie value is 256 bits, base64url: anything else is not looked up. */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Resolves the browser session, if any, into `c.var.session` (null when signed out). */
export const loadSession: MiddlewareHandler<AppEnv> = async function loadSession(c, next) {
  const token = readCookie(c, SESSION_COOKIE);
  c.set('session', token && SESSION_TOKEN.test(token) ? await findSession(c.var.deps.db, token) : null);
  await next();
};

/** The stored id (hash) of the session cookie, for a caller that batches the session lookup itself. */
export async function sessionIdHash(c: Context<AppEnv>): Promise<string | null> {
  const token = readCookie(c, SESSION_COOKIE);
  return token && SESSION_TOKEN.test(token) ? hashSecret(token) : null;
}

/** Signs the user in: a new server-side session (revocable: it is a D1 row) in an HttpOnly cookie. */
export async function startSession(c: Context<AppEnv>, userId: string): Promise<void> {
  const token = await createSession(c.var.deps.db, userId);
  writeCookie(c, SESSION_COOKIE, token, SESSION_TTL);
}

export async function endSession(c: Context<AppEnv>): Promise<void> {
  if (c.var.session) await deleteSession(c.var.deps.db, c.var.session.idHash);
  clearCookie(c, SESSION_COOKIE);
}
