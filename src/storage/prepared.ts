import { fillPlaceholders } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import type { PreparedQueryConfig, SQLitePreparedQuery } from 'drizzle-orm/sqlite-core';
import type { Db } from './db';

// Drizzle builds a query's SQL from its builder every time the query runs.
// Measured in Node, that is 50–100 µs of CPU per query (a select of every
// column of `clients` is the dearest): more than the rest of a bearer call's
// own work. The statements of the hot paths (client authentication, the
// bearer grant check and reads, the authorization endpoint, code redemption,
// refresh rotation, introspection, audit events) are therefore prepared once
// per Drizzle instance with `sql.placeholder`, Drizzle's own prepared
// statements, and only bound to fresh values per request. Rarely run
// statements stay plain builders: they read more easily.
//
// `bind()` below reaches into Drizzle's internals (a prepared query's `stmt`,
// `getQuery()`, `mapResult()`, and the D1 batch's `_prepare()` protocol), which
// a drizzle-orm release may change without a type error. The alternative,
// writing the hot statements against D1's public `prepare`/`bind`/`batch` with
// SQL from `toSQL()`, skips the same per-run query building. Measured by
// bench/prepared-micro.ts (a client lookup in a batch over a stub D1 binding,
// JavaScript work only, several runs on a busy shared machine): building per
// run 80-190 µs, `bind()` 4-15 µs, D1's API with a hand-written mapper 1-3.5
// µs. Both remove the build, and the few µs between them are small beside a
// D1 round trip, while the public-API way would need a hand-written row
// mapper for every hot statement (joins with nested selections, JSON columns,
// RETURNING rows). So the approach stays and is fenced instead:
// test/prepared-contract.test.ts runs `bind()` over each kind of statement the
// hot paths use (a join with a nested selection, JSON columns, UPDATE ...
// RETURNING, INSERT ... SELECT, a plain write), alone and in `db.batch`, on
// real local D1, and checks the internals' shape; after a drizzle-orm upgrade
// it fails with "drizzle-orm changed the internals storage/prepared.ts uses".
// drizzle-orm is pinned exactly in package.json.

/** A query prepared once per Drizzle instance (and so once per isolate), on first use. */
export function preparedOnce<P>(build: (db: Db) => P): (db: Db) => P {
  const prepared = new WeakMap<Db, P>();
  return (db) => {
    let query = prepared.get(db);
    if (!query) {
      query = build(db);
      prepared.set(db, query);
    }
    return query;
  };
}

/** A prepared query bound to its values: awaitable alone, or an item of `db.batch`, answering `R`. */
export type Bound<R> = BatchItem<'sqlite'> & PromiseLike<R> & { readonly _: { readonly result: R } };

/**
 * Binds a prepared query's placeholders, for `db.batch` or to await alone;
 * it answers what the query's `execute` answers (rows for a select or a
 * RETURNING, D1's result for a plain write). Drizzle's D1 batch takes each
 * item's `_prepare()`, binds its statement to `getQuery().params` and maps the
 * result with `mapResult(result, true)`; a bound query answers those three
 * with the prepared statement and its filled placeholders, so nothing is
 * built again. test/prepared-contract.test.ts fences this contract.
 */
export function bind<T extends PreparedQueryConfig>(query: SQLitePreparedQuery<T>, values: Record<string, unknown>): Bound<T['execute']> {
  const internals = query as unknown as { stmt: unknown; getQuery(): { sql: string; params: unknown[] } };
  const bound = {
    _prepare: () => ({
      stmt: internals.stmt,
      getQuery: () => {
        const { sql, params } = internals.getQuery();
        return { sql, params: fillPlaceholders(params, values) };
      },
      mapResult: (result: unknown, isFromBatch?: boolean) => query.mapResult(result, isFromBatch),
    }),
    // A bound query is awaitable like Drizzle's own builders are (they too
    // define `then`): `await bind(...)` runs it alone.
    // biome-ignore lint/suspicious/noThenProperty: deliberately thenable, as Drizzle's query builders are
    then: <A = T['execute'], B = never>(
      onFulfilled?: ((result: T['execute']) => A | PromiseLike<A>) | null,
      onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
    ) => (query.execute(values) as Promise<T['execute']>).then(onFulfilled, onRejected),
  };
  return bound as unknown as Bound<T['execute']>;
}
