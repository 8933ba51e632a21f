import { inArray } from 'drizzle-orm';
import type { Db } from './db';
import { signingKeys, type SigningKey } from './schema';

/** Keys that appear in the JWKS: the next, the current and recently retired ones. */
export async function listPublishedKeys(db: Db): Promise<SigningKey[]> {
  return db.select().from(signingKeys).where(inArray(signingKeys.status, ['next', 'current', 'retired']));
}

/**
 * Inserts a key as `current` unless one already is. The partial UNIQUE index on
 * status = 'current' makes concurrent first requests safe: one insert wins,
 * the others do nothing and read the winner.
 */
export async function insertCurrentKeyIfNone(db: Db, key: SigningKey): Promise<void> {
  await db.insert(signingKeys).values(key).onConflictDoNothing();
}
