import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { userApiTokens } from './schema';

/** The row that makes a user API token stand, by the SHA-256 of its `jti`. Unexecuted, to share a D1 batch. */
export function insertUserApiTokenStatement(db: Db, row: { jtiHash: string; userId: string; createdAt: number; expiresAt: number }) {
  return db.insert(userApiTokens).values(row);
}

/** Deletes a user's rows whose token has expired (refused by its `exp` alone). Unexecuted, to share a D1 batch. */
export function pruneUserApiTokensStatement(db: Db, userId: string, time: number) {
  return db.delete(userApiTokens).where(and(eq(userApiTokens.userId, userId), lte(userApiTokens.expiresAt, time)));
}

/** The user of a live (unexpired, not revoked) user API token, by its jti hash: no rows when it does not stand. */
export function liveUserApiTokenQuery(db: Db, jtiHash: string, time: number) {
  return bind(liveUserApiToken(db), { jtiHash, now: time });
}

// Every management API call runs this: prepared once (see prepared.ts).
const liveUserApiToken = preparedOnce((db) =>
  db
    .select({ userId: userApiTokens.userId })
    .from(userApiTokens)
    .where(and(eq(userApiTokens.jtiHash, sql.placeholder('jtiHash')), gt(userApiTokens.expiresAt, sql.placeholder('now'))))
    .limit(1)
    .prepare(),
);

/** Revokes one user API token (sign-out). Unexecuted, to share a D1 batch. */
export function deleteUserApiTokenStatement(db: Db, jtiHash: string) {
  return db.delete(userApiTokens).where(eq(userApiTokens.jtiHash, jtiHash));
}

/**
 * Revokes every user API token of a user: for "sign out everywhere" and a
 * password change (OWASP ASVS 4.0 V3.3.3: a password change can end every
 * other session; V3.3.4: a user can sign out of all sessions and devices). Unexecuted, to share a D1 batch
 * with the change that calls for it.
 */
export function revokeUserApiTokensStatement(db: Db, userId: string) {
  return db.delete(userApiTokens).where(eq(userApiTokens.userId, userId));
}
