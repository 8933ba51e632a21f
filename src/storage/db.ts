import type { BatchItem } from 'drizzle-orm/batch';
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
  return isConstraintFailure(error, /UNIQUE constraint failed/i);
}

/** Whether a D1 error is a FOREIGN KEY failure: a row refers to one that is gone. */
export function isForeignKeyViolation(error: unknown): boolean {
  return isConstraintFailure(error, /FOREIGN KEY constraint failed/i);
}

function isConstraintFailure(error: unknown, failure: RegExp): boolean {
  let current: unknown = error;
  // Drizzle wraps the D1 error; walk the cause chain.
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error && failure.test(current.message)) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** What a batch of Drizzle queries answers, one result per query in order. */
export type BatchResults<T extends readonly BatchItem<'sqlite'>[]> = {
  -readonly [K in keyof T]: T[K] extends PromiseLike<infer R> ? R : never;
};

/**
 * Reads through a D1 session (D1 read replication, Sessions API): a read
 * replica may answer them, at least as fresh as the session's bookmark when
 * it was opened with one. Only reads: a write is the primary's (`Deps.db`).
 */
export interface ReadSession {
  /** Runs Drizzle reads (built over any Db of this binding) in one round trip through the session. */
  batch<T extends readonly BatchItem<'sqlite'>[]>(items: T): Promise<BatchResults<T>>;
  /** The newest bookmark this session has seen (D1's, after its reads): null before its first read. */
  bookmark(): string | null;
  /**
   * A Drizzle instance over the session, for reads written as plain builders
   * (a page's lists): built on first use, per session, so only for pages,
   * never a hot path (a Drizzle instance walks the schema when built).
   */
  readonly db: Db;
}

/**
 * A read session over a D1 binding: `constraint` is a bookmark (a replica at
 * least that fresh, else the primary) or undefined (any replica).
 *
 * Drizzle's own batch runs its queries on the binding it was made with, the
 * primary; this runs the same queries through the session instead. It does
 * what drizzle-orm/d1's batch does (each query's SQL and parameters from
 * `_prepare()`, its rows mapped by `mapResult(result, true)`), with each
 * statement prepared on the session, so the session routes it;
 * test/replica-reads.test.ts checks the rows match Drizzle's own batch.
 */
export function readSession(d1: D1Database, constraint?: string): ReadSession {
  const session = d1.withSession(constraint);
  let sessionDb: Db | undefined;
  return {
    async batch<T extends readonly BatchItem<'sqlite'>[]>(items: T) {
      const prepared = items.map((item) => (item as unknown as DrizzleBatchItem)._prepare());
      const statements = prepared.map((query) => {
        const { sql, params } = query.getQuery();
        return session.prepare(sql).bind(...params);
      });
      const results = await session.batch(statements);
      return results.map((result, i) => prepared[i]?.mapResult(result, true)) as BatchResults<T>;
    },
    bookmark: () => session.getBookmark(),
    get db() {
      sessionDb ??= drizzle(session as unknown as D1Database, { schema });
      return sessionDb;
    },
  };
}

/** The part of a Drizzle query a batch uses (drizzle-orm/d1 session.js `batch`). */
interface DrizzleBatchItem {
  _prepare(): { getQuery(): { sql: string; params: unknown[] }; mapResult(result: unknown, isFromBatch?: boolean): unknown };
}

/** Writes whose D1 bookmark the caller keeps (a browser's read-your-writes cookie): a Drizzle instance over a primary session. */
export interface WriteSession {
  db: Db;
  /** The bookmark of the session's latest write: a replica at least this fresh has seen it. */
  bookmark(): string | null;
}

/**
 * A session that goes to the primary (`first-primary`) and remembers the
 * bookmark of what it wrote. A Drizzle instance of its own, built per call:
 * only for rare writes (a browser's), never a hot path.
 */
export function writeSession(d1: D1Database): WriteSession {
  const session = d1.withSession('first-primary');
  // A session has the binding's prepare and batch, all Drizzle's D1 driver calls.
  return { db: drizzle(session as unknown as D1Database, { schema }), bookmark: () => session.getBookmark() };
}
