import type { Bindings } from './bindings';
import { createDb, type Db, type ReadSession, readSession, type WriteSession, writeSession } from './storage/db';

/**
 * What every service works with, in one shape: D1 through Drizzle, the
 * bindings (KV, rate limiters, secrets) and the issuer identifier. Made once
 * per request (app.tsx) or per scheduled run (index.ts); services take it as
 * their first argument and never see Hono's `Context`.
 *
 * `db` is D1's primary: every write, and every read that decides something
 * single-use. `replicaRead` opens a session a read replica may answer (D1
 * read replication); which checks may use one, and how a replica's answer is
 * trusted, is services/replica.ts.
 */
export interface Deps {
  db: Db;
  env: Bindings;
  /** The issuer identifier (RFC 8414 §2), without a trailing slash. */
  issuer: string;
}

/** The dependencies for one request or scheduled run. */
export function createDeps(env: Bindings): Deps {
  return { db: createDb(env.DB), env, issuer: env.ISSUER.replace(/\/+$/, '') };
}

/** A read session a replica may answer: any replica, or one at least as fresh as `bookmark` (else the primary). */
export function replicaRead(deps: Deps, bookmark?: string): ReadSession {
  return readSession(deps.env.DB, bookmark);
}

/** A primary session for writes whose bookmark the caller keeps (a browser's read-your-writes cookie). */
export function primaryWrite(deps: Deps): WriteSession {
  return writeSession(deps.env.DB);
}
