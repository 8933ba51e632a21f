// What a binding call costs, in one place. Tollgate's bindings wrapped so that
// every storage call is counted: test/round-trips.test.ts holds the counts per
// operation, and the bench's Worker (bench/worker.ts) reports them beside the
// timings. A D1 round trip is what travels to the database and back on
// Workers: one statement run, one batch (however many statements it holds) or
// one exec. KV calls are reads (get, getWithMetadata, list) or writes (put,
// delete). Each call goes through `d1RoundTrip` or `kvCall`: the one place a
// latency model would add the time such a call takes at the edge.

/** Storage calls made through counting bindings; zero it with `resetCounts`. */
export interface BindingCounts {
  /** D1 round trips: each statement run (first, all, run, raw), batch or exec. */
  d1: number;
  /** D1 statements in those round trips: a batch of n statements counts n. */
  statements: number;
  /** KV reads: get, getWithMetadata, list. */
  kvGet: number;
  /** KV writes: put, delete. */
  kvPut: number;
  /**
   * When present, each round trip's SQL in order, a batch as `batch(<n>)`: a
   * test's diagnostics (under load it would grow without end).
   */
  sql?: string[];
}

/** Fresh counts; `keepSql` keeps each round trip's SQL text too. */
export function newCounts({ keepSql = false }: { keepSql?: boolean } = {}): BindingCounts {
  return { d1: 0, statements: 0, kvGet: 0, kvPut: 0, ...(keepSql ? { sql: [] } : {}) };
}

/** Zeroes the counts in place (the bindings that count into them keep counting). */
export function resetCounts(counts: BindingCounts): void {
  Object.assign(counts, { d1: 0, statements: 0, kvGet: 0, kvPut: 0 });
  counts.sql &&= [];
}

/** The Worker's bindings with D1 and KV wrapped to count into `counts`; every other binding as it is. */
export function countingBindings<E extends { DB: D1Database; KV: KVNamespace }>(env: E, counts: BindingCounts): E {
  return { ...env, DB: countingD1(env.DB, counts), KV: countingKv(env.KV, counts) };
}

/** One D1 round trip of `statements` statements: counted, then made. */
function d1RoundTrip<T>(counts: BindingCounts, statements: number, sql: string, call: () => T): T {
  counts.d1++;
  counts.statements += statements;
  counts.sql?.push(sql);
  return call();
}

/** One KV call: counted, then made. */
function kvCall<T>(counts: BindingCounts, kind: 'kvGet' | 'kvPut', call: () => T): T {
  counts[kind]++;
  return call();
}

const STATEMENT_RUNS = new Set<PropertyKey>(['first', 'all', 'run', 'raw']);
const KV_READS = new Set<PropertyKey>(['get', 'getWithMetadata', 'list']);
const KV_WRITES = new Set<PropertyKey>(['put', 'delete']);

// D1's batch() takes only the runtime's own statements: each counting
// statement maps back to the statement it wraps.
const wrappedStatements = new WeakMap<object, D1PreparedStatement>();

/** Any other property of a binding, as it is (methods bound to the real binding). */
function passThrough(target: object, prop: PropertyKey): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

function countingStatement(statement: D1PreparedStatement, sql: string, counts: BindingCounts): D1PreparedStatement {
  const proxy = new Proxy(statement, {
    get(target, prop) {
      if (prop === 'bind') return (...values: unknown[]) => countingStatement(target.bind(...values), sql, counts);
      if (STATEMENT_RUNS.has(prop)) {
        const run = Reflect.get(target, prop, target) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => d1RoundTrip(counts, 1, sql, () => run.apply(target, args));
      }
      return passThrough(target, prop);
    },
  });
  wrappedStatements.set(proxy, statement);
  return proxy;
}

/** A D1 database (or a D1 session: it has the same prepare and batch) that counts its round trips. */
function countingD1<D extends D1Database | D1DatabaseSession>(db: D, counts: BindingCounts): D {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => countingStatement(target.prepare(sql), sql, counts);
      if (prop === 'batch') {
        return (list: D1PreparedStatement[]) =>
          d1RoundTrip(counts, list.length, `batch(${list.length})`, () =>
            target.batch(list.map((statement) => wrappedStatements.get(statement) ?? statement)),
          );
      }
      if (prop === 'exec' && 'exec' in target) return (sql: string) => d1RoundTrip(counts, 1, sql, () => target.exec(sql));
      // A session's statements are round trips too (read replication, D1 Sessions API).
      if (prop === 'withSession' && 'withSession' in target) {
        return (constraint?: string) => countingD1(target.withSession(constraint), counts);
      }
      return passThrough(target, prop);
    },
  });
}

function countingKv(kv: KVNamespace, counts: BindingCounts): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (KV_READS.has(prop)) return (...args: unknown[]) => kvCall(counts, 'kvGet', () => value.apply(target, args));
      if (KV_WRITES.has(prop)) return (...args: unknown[]) => kvCall(counts, 'kvPut', () => value.apply(target, args));
      return value.bind(target);
    },
  });
}
