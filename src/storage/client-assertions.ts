import type { Db } from './db';
import { clientAssertions } from './schema';

/**
 * The insert that spends a client assertion's `jti` (RFC 7523 §3 item 7);
 * unexecuted, to share a D1 batch. A plain INSERT, on purpose: for a replayed
 * assertion the row exists, the primary key is violated and the statement
 * throws, and with it the whole batch (one transaction), so the grant it rides
 * with spends nothing (services/client-authentication.ts maps the violation
 * to invalid_client).
 */
export function insertClientAssertionStatement(db: Db, assertion: { jtiHash: string; clientId: string; expiresAt: number }) {
  return db.insert(clientAssertions).values(assertion);
}

/**
 * Whether a D1 error is the primary key violation of a replayed assertion's
 * insert. D1 reports it as SQLite's message ("UNIQUE constraint failed:
 * client_assertions.jti_hash"), wrapped in Drizzle's error (cause).
 */
export function isAssertionReplay(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (/UNIQUE constraint failed: client_assertions\.jti_hash/.test(current.message)) return true;
  }
  return false;
}
