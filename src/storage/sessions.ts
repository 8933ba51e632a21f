import { and, desc, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { SESSION_LAST_SEEN_INTERVAL, SESSION_TTL, SESSION_USER_AGENT_MAX_LENGTH } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { sessions, type User, users } from './schema';

/** What a browser session resolves to. */
export interface SessionInfo {
  idHash: string;
  user: User;
  authTime: number;
  /** How the user signed in (RFC 8176 `amr` values): the ID token's `amr` and `acr` follow it. */
  amr: string[];
  /** When the session was last seen (written at most every SESSION_LAST_SEEN_INTERVAL), or null; absent when not read. */
  lastSeenAt?: number | null;
}

/**
 * Starts a session; returns the cookie value. Only its hash is stored.
 * `amr`: how the user signed in, as RFC 8176 values (`["pwd"]`,
 * `["pwd","otp"]`, `["hwk","user"]`...); every sign-in says it.
 */
export async function createSession(db: Db, userId: string, amr: string[], userAgent: string | null = null): Promise<string> {
  const token = randomSecret();
  const time = now();
  await db.insert(sessions).values({
    idHash: await hashSecret(token),
    userId,
    amr,
    authTime: time,
    expiresAt: time + SESSION_TTL,
    // For the sessions list on /account: only a device name is made of it, so it is cut short.
    userAgent: userAgent?.slice(0, SESSION_USER_AGENT_MAX_LENGTH) ?? null,
    lastSeenAt: time,
  });
  return token;
}

/** The live session behind a cookie value, with its user, or null. */
export async function findSession(db: Db, token: string): Promise<SessionInfo | null> {
  const idHash = await hashSecret(token);
  return toSessionInfo(idHash, await sessionQuery(db, idHash));
}

/** The session lookup, unexecuted, to share a D1 batch (the authorization endpoint's lookups). */
export function sessionQuery(db: Db, idHash: string) {
  return bind(liveSession(db), { idHash, now: now() });
}

// Every page and authorization request runs this: prepared once (see prepared.ts).
const liveSession = preparedOnce((db) =>
  db
    .select({ user: users, authTime: sessions.authTime, amr: sessions.amr, lastSeenAt: sessions.lastSeenAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    // A disabled user's session is no session, even where its row outlived the disable (which deletes it).
    .where(and(eq(sessions.idHash, sql.placeholder('idHash')), gt(sessions.expiresAt, sql.placeholder('now')), isNull(users.disabledAt)))
    .limit(1)
    .prepare(),
);

export function toSessionInfo(idHash: string, rows: Awaited<ReturnType<typeof sessionQuery>>): SessionInfo | null {
  const row = rows[0];
  return row ? { idHash, user: row.user, authTime: row.authTime, amr: row.amr, lastSeenAt: row.lastSeenAt } : null;
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.idHash, idHash));
}

/** A user's live sessions, most recently seen first, for the sessions list on /account. */
export async function listSessionsOfUser(db: Db, userId: string, time: number) {
  return db
    .select({ idHash: sessions.idHash, authTime: sessions.authTime, userAgent: sessions.userAgent, lastSeenAt: sessions.lastSeenAt })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, time)))
    .orderBy(desc(sessions.lastSeenAt), desc(sessions.authTime));
}

/**
 * Notes that a session was used now, unless that was noted less than
 * SESSION_LAST_SEEN_INTERVAL ago (the WHERE decides, so sessions used at once
 * write it once). Unexecuted: the caller runs it off the response's path.
 */
export function touchSessionStatement(db: Db, idHash: string, time: number) {
  return db
    .update(sessions)
    .set({ lastSeenAt: time })
    .where(and(eq(sessions.idHash, idHash), or(isNull(sessions.lastSeenAt), lt(sessions.lastSeenAt, time - SESSION_LAST_SEEN_INTERVAL))));
}

/** Ends one of a user's sessions (End session on /account): only theirs, whatever id is asked. True when one ended. */
export async function deleteSessionOfUser(db: Db, userId: string, idHash: string): Promise<boolean> {
  const deleted = await db
    .delete(sessions)
    .where(and(eq(sessions.idHash, idHash), eq(sessions.userId, userId)))
    .returning({ idHash: sessions.idHash });
  return deleted.length > 0;
}
