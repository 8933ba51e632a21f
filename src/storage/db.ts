import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import * as schema from './schema';

export type Db = DrizzleD1Database<typeof schema>;

/** A Drizzle instance over the request's D1 binding; made per request, never cached. */
export function createDb(d1: D1Database): Db {
  return drizzle(d1, { schema });
}

/** True when a D1 error is a UNIQUE constraint violation (the loser of an insert race). */
export function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error;
  // Drizzle wraps the D1 error; walk the cause chain.
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error && /UNIQUE constraint failed/i.test(current.message)) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}
