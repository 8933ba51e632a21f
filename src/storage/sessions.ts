import { and, eq, gt, sql } from 'drizzle-orm';
import { SESSION_TTL } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { sessions, type User, users } from './schema';

/** What a browser session resolves to. */
export interface SessionInfo {
  idHash: string;
  user: User;
  authTime: number;
}

/** Starts a session; returns the cookie value. Only its hash is stored. */
export async function createSession(db: Db, userId: string): Promise<string> {
  const token = randomSecret();
  const time = now();
  await db.insert(sessions).values({
    idHash: await hashSecret(token),
    userId,
    authTime: time,
    expiresAt: time + SESSION_TTL,
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
    .select({ user: users, authTime: sessions.authTime })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.idHash, sql.placeholder('idHash')), gt(sessions.expiresAt, sql.placeholder('now'))))
    .limit(1)
    .prepare(),
);

export function toSessionInfo(idHash: string, rows: Awaited<ReturnType<typeof sessionQuery>>): SessionInfo | null {
  const row = rows[0];
  return row ? { idHash, user: row.user, authTime: row.authTime } : null;
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.idHash, idHash));
}
