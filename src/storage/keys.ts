import { and, eq, gt, inArray, lt, or } from 'drizzle-orm';
import type { Db } from './db';
import { type SigningKey, signingKeys } from './schema';

/** Keys that appear in the JWKS: next, current, and those retired after `retiredSince`. */
export async function listPublishedKeys(db: Db, retiredSince: number): Promise<SigningKey[]> {
  return db
    .select()
    .from(signingKeys)
    .where(
      or(inArray(signingKeys.status, ['next', 'current']), and(eq(signingKeys.status, 'retired'), gt(signingKeys.retiredAt, retiredSince))),
    );
}

/**
 * Inserts keys unless their slot is taken. The partial UNIQUE indexes on
 * status = 'current' and status = 'next' make concurrent first requests safe:
 * one insert wins, the others do nothing and read the winner.
 */
export async function insertKeysIfAbsent(db: Db, keys: [SigningKey, ...SigningKey[]]): Promise<void> {
  await db.batch(keys.map((key) => db.insert(signingKeys).values(key).onConflictDoNothing()) as [never, ...never[]]);
}

/**
 * The statements of one rotation, for the caller's batch: the current key
 * retires, the next (already published) becomes current, a new next is added,
 * and keys retired before `forgetBefore` are deleted.
 */
export function rotateKeysStatements(db: Db, newNext: SigningKey, time: number, forgetBefore: number) {
  return [
    db.update(signingKeys).set({ status: 'retired', retiredAt: time }).where(eq(signingKeys.status, 'current')),
    db.update(signingKeys).set({ status: 'current' }).where(eq(signingKeys.status, 'next')),
    db.insert(signingKeys).values(newNext).onConflictDoNothing(),
    db.delete(signingKeys).where(and(eq(signingKeys.status, 'retired'), lt(signingKeys.retiredAt, forgetBefore))),
  ] as const;
}

/**
 * Replaces a private key stored in clear with its sealed form, only while the
 * row still holds `clear` (a concurrent rotation that sealed it first wins).
 */
export async function sealStoredKey(db: Db, kid: string, clear: string, sealed: string): Promise<void> {
  await db
    .update(signingKeys)
    .set({ privateJwk: sealed })
    .where(and(eq(signingKeys.kid, kid), eq(signingKeys.privateJwk, clear)));
}
