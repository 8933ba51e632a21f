import type { Bindings } from './bindings';
import { createDb, type Db } from './storage/db';

/**
 * What every service works with, in one shape: D1 through Drizzle, the
 * bindings (KV, rate limiters, secrets) and the issuer identifier. Made once
 * per request (app.tsx) or per scheduled run (index.ts); services take it as
 * their first argument and never see Hono's `Context`.
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
