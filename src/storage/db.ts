import { type DrizzleD1Database, drizzle } from 'drizzle-orm/d1';
import * as schema from './schema';

export type Db = DrizzleD1Database<typeof schema>;

// One Drizzle instance per D1 binding object, for the isolate's life. A
// Drizzle instance holds no per-request state (only the binding, the dialect
// and the schema's relational config), and building that config walks every
// table: done per request it was the largest single cost of a bearer call.
// Keyed weakly by the binding, so a different binding (another env, a test's
// wrapper) gets its own instance and nothing outlives its binding.
const instances = new WeakMap<D1Database, Db>();

/** The Drizzle instance over a D1 binding. */
export function createDb(d1: D1Database): Db {
  let db = instances.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    instances.set(d1, db);
  }
  return db;
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
