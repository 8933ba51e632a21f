import type { Context, MiddlewareHandler } from 'hono';
import { SESSION_LAST_SEEN_INTERVAL, SESSION_TTL } from '../config';
import { replicaRead } from '../deps';
import type { AppEnv } from '../env';
import { afterResponse } from '../helpers/after-response';
import { clearCookie, readBookmarkCookie, readCookie, writeCookie } from '../helpers/cookies';
import { hashSecret, now } from '../lib/crypto';
import { readFromPrimary, replicaAnswer } from '../services/replica';
import type { Db } from '../storage/db';
import {
  createSession,
  deleteSession,
  findSession,
  type SessionInfo,
  sessionQuery,
  toSessionInfo,
  touchSessionStatement,
} from '../storage/sessions';

const SESSION_COOKIE = 'tg_session';
/** A session cookie value is 256 bits, base64url: anything else is not looked up. */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Resolves the browser session, if any, into `c.var.session` (null when signed out). */
export const loadSession: MiddlewareHandler<AppEnv> = async function loadSession(c, next) {
  const token = readCookie(c, SESSION_COOKIE);
  const session = token && SESSION_TOKEN.test(token) ? await findSession(c.var.deps.db, token) : null;
  c.set('session', session);
  noteSeen(c, session);
  await next();
};

/**
 * The browser session for a page that only reads (GET /account), from a read
 * replica at least as fresh as the browser's last write (its bookmark
 * cookie), with the Db the page reads the rest from. The replica's answer is
 * used when it finds the session and its replica clock is fresh
 * (services/replica.ts); the page then reads in the same D1 session, which
 * is at least as fresh. Otherwise (a session the replica has not seen yet, a
 * stale replica) the session is read at the primary, and so is the page.
 */
export async function sessionForReading(c: Context<AppEnv>): Promise<{ session: SessionInfo | null; db: Db }> {
  const { deps } = c.var;
  const idHash = await sessionIdHash(c);
  if (!idHash) return { session: null, db: deps.db };
  const read = replicaRead(deps, readBookmarkCookie(c));
  const reads = (db: Db) => [sessionQuery(db, idHash)];
  const found = await replicaAnswer(deps, read, reads, ([rows]) => (rows?.length ?? 0) > 0);
  if (found) {
    const session = toSessionInfo(idHash, found[0]!);
    noteSeen(c, session);
    return { session, db: read.db };
  }
  const [rows] = await readFromPrimary(deps, reads);
  const session = toSessionInfo(idHash, rows!);
  noteSeen(c, session);
  return { session, db: deps.db };
}

/**
 * Keeps the session's "last seen" (the sessions list on /account) within
 * SESSION_LAST_SEEN_INTERVAL: when it is older, one UPDATE at the primary
 * runs after the response (waitUntil), so no page waits for it and a session
 * in use writes at most once per interval.
 */
function noteSeen(c: Context<AppEnv>, session: SessionInfo | null): void {
  const time = now();
  if (!session || (session.lastSeenAt != null && session.lastSeenAt >= time - SESSION_LAST_SEEN_INTERVAL)) return;
  const { db } = c.var.deps;
  afterResponse(
    c,
    touchSessionStatement(db, session.idHash, time).then(
      () => undefined,
      () => console.error('Tollgate: could not note a session as seen'),
    ),
  );
}

/** The stored id (hash) of the session cookie, for a caller that batches the session lookup itself. */
export async function sessionIdHash(c: Context<AppEnv>): Promise<string | null> {
  const token = readCookie(c, SESSION_COOKIE);
  return token && SESSION_TOKEN.test(token) ? hashSecret(token) : null;
}

/**
 * Signs the user in: a new server-side session (revocable: it is a D1 row) in
 * an HttpOnly cookie. `amr`: how they signed in (RFC 8176), for the ID token.
 */
export async function startSession(c: Context<AppEnv>, userId: string, amr: string[]): Promise<void> {
  const token = await createSession(c.var.deps.db, userId, amr, c.req.header('User-Agent') ?? null);
  writeCookie(c, SESSION_COOKIE, token, SESSION_TTL);
}

export async function endSession(c: Context<AppEnv>): Promise<void> {
  if (c.var.session) await deleteSession(c.var.deps.db, c.var.session.idHash);
  clearCookie(c, SESSION_COOKIE);
}
