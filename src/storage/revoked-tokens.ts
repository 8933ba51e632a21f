import { lt } from 'drizzle-orm';
import type { Db } from './db';
import { revokedTokens } from './schema';

/**
 * The row that revokes one access token by its jti, kept until `expiresAt`
 * (when the token would have expired anyway). Revoking twice is a no-op.
 * Unexecuted, to share a D1 batch.
 */
export function revokeJtiStatement(db: Db, jti: string, expiresAt: number) {
  return db.insert(revokedTokens).values({ jti, expiresAt }).onConflictDoNothing();
}

/** Deletes revocations whose token expired before `before`: it is refused by its exp alone. Unexecuted, to share a D1 batch. */
export function pruneRevokedTokensStatement(db: Db, before: number) {
  return db.delete(revokedTokens).where(lt(revokedTokens.expiresAt, before));
}
