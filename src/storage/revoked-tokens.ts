import { lt } from 'drizzle-orm';
import { now } from '../lib/crypto';
import type { Db } from './db';
import { revokedTokens } from './schema';

/**
 * Revokes one access token by its jti until it would have expired anyway
 * (RFC 7009 §2). Rows past their expiry are pruned in the same round trip.
 */
export async function revokeAccessToken(db: Db, jti: string, expiresAt: number): Promise<void> {
  await db.batch([
    db.insert(revokedTokens).values({ jti, expiresAt }).onConflictDoNothing(),
    db.delete(revokedTokens).where(lt(revokedTokens.expiresAt, now())),
  ]);
}
