// What a binding call costs, in one place. Tollgate's bindings wrapped so that
// every storage call is counted: test/round-trips.test.ts holds the counts per
// operation, and the bench's Worker (bench/worker.ts) reports them beside the
// timings. A D1 round trip is what travels to the database and back on
// Workers: one statement run, one batch (however many statements it holds) or
// one exec. KV calls are reads (get, getWithMetadata, list) or writes (put,
// delete). Each call goes through `d1RoundTrip` or `kvCall`: the one place an
// edge latency model (`EdgeLatency`, `npm run bench -- --edge`) adds the time
// such a call takes from a PoP: nothing waits unless a model is given.

/** Storage calls made through counting bindings; zero it with `resetCounts`. */
export interface BindingCounts {
  /** D1 round trips: each statement run (first, all, run, raw), batch or exec. */
  d1: number;
  /**
   * Of those, the ones a read replica may answer: reads only, made through a
   * `withSession(...)` session whose constraint allows a replica
   * (`first-unconstrained` or a bookmark). The rest go to the primary.
   */
  d1Replica: number;
  /** D1 statements in those round trips: a batch of n statements counts n. */
  statements: number;
  /** KV reads: get, getWithMetadata, list. */
  kvGet: number;
  /** KV writes: put, delete. */
  kvPut: number;
  /** Milliseconds the edge model made those calls wait, in all (0 without a model). */
  modelledMs: number;
  /**
   * When present, each round trip's SQL in order, a batch as `batch(<n>)`: a
   * test's diagnostics (under load it would grow without end).
   */
  sql?: string[];
}

/** Fresh counts; `keepSql` keeps each round trip's SQL text too. */
export function newCounts({ keepSql = false }: { keepSql?: boolean } = {}): BindingCounts {
  return { d1: 0, d1Replica: 0, statements: 0, kvGet: 0, kvPut: 0, modelledMs: 0, ...(keepSql ? { sql: [] } : {}) };
}

/** Zeroes the counts in place (the bindings that count into them keep counting). */
export function resetCounts(counts: BindingCounts): void {
  Object.assign(counts, { d1: 0, d1Replica: 0, statements: 0, kvGet: 0, kvPut: 0, modelledMs: 0 });
  counts.sql &&= [];
}

/**
 * Milliseconds each storage call waits before it is made: a model of a Worker
 * at one PoP (point of presence) talking to D1 and KV. Any field left out
 * waits nothing.
 */
export interface EdgeLatency {
  /** A D1 round trip to the primary database (80 ms: a PoP on another continent; 2 ms: a PoP next to it). */
  primaryMs?: number;
  /** A D1 round trip a read replica near the PoP answers. */
  replicaMs?: number;
  /** A KV read of a key this location read before (KV caches it at the PoP). */
  kvReadHotMs?: number;
  /** A KV read of any other key, or a list: it travels to KV's central store. */
  kvReadColdMs?: number;
  /** A KV write or delete. */
  kvWriteMs?: number;
}

/** Where one call goes, and what this isolate's PoP remembers. */
interface Wiring {
  counts: BindingCounts;
  latency: EdgeLatency;
  /** KV keys this isolate has read: a model of the PoP's KV cache. */
  kvKeysRead: Set<string>;
}

/**
 * The Worker's bindings with D1 and KV wrapped to count into `counts` (and,
 * given a `latency` model, to wait before each call); every other binding as
 * it is. Make one per isolate: the KV keys read are remembered per wrapper.
 */
export function countingBindings<E extends { DB: D1Database; KV: KVNamespace }>(
  env: E,
  counts: BindingCounts,
  latency: EdgeLatency = {},
): E {
  const wiring: Wiring = { counts, latency, kvKeysRead: new Set() };
  return { ...env, DB: countingD1(env.DB, wiring, false), KV: countingKv(env.KV, wiring) };
}

/** Runs `call` after `ms` milliseconds, adding them to `counts.modelledMs`; at once (no extra tick) when there is nothing to wait. */
function after<T>(counts: BindingCounts, ms: number | undefined, call: () => T): T | Promise<Awaited<T>> {
  if (!ms) return call();
  counts.modelledMs += ms;
  return new Promise<void>((resolve) => setTimeout(resolve, ms)).then(call) as Promise<Awaited<T>>;
}

/**
 * One D1 round trip of `sql` (one text per statement; `label` in the SQL log):
 * counted, then made (after its modelled wait).
 */
function d1RoundTrip<T>(wiring: Wiring, replicaAllowed: boolean, label: string, sql: string[], call: () => T): T | Promise<Awaited<T>> {
  const { counts, latency } = wiring;
  const replica = replicaAllowed && sql.every(isRead);
  counts.d1++;
  if (replica) counts.d1Replica++;
  counts.statements += sql.length;
  counts.sql?.push(label);
  return after(counts, replica ? latency.replicaMs : latency.primaryMs, call);
}

/** A statement a replica can answer: it only reads. */
function isRead(sql: string): boolean {
  return /^\s*(select|with)\b/i.test(sql) && !/\b(insert|update|delete)\b/i.test(sql);
}

/** One KV call: counted, then made (after its modelled wait). */
function kvCall<T>(wiring: Wiring, kind: 'kvGet' | 'kvPut', key: string, call: () => T): T | Promise<Awaited<T>> {
  const { counts, latency, kvKeysRead } = wiring;
  counts[kind]++;
  if (kind === 'kvPut') return after(counts, latency.kvWriteMs, call);
  const hot = kvKeysRead.has(key);
  kvKeysRead.add(key);
  return after(counts, hot ? latency.kvReadHotMs : latency.kvReadColdMs, call);
}

const STATEMENT_RUNS = new Set<PropertyKey>(['first', 'all', 'run', 'raw']);
const KV_READS = new Set<PropertyKey>(['get', 'getWithMetadata', 'list']);
const KV_WRITES = new Set<PropertyKey>(['put', 'delete']);

// D1's batch() takes only the runtime's own statements: each counting
// statement maps back to the statement it wraps, and its SQL.
const wrappedStatements = new WeakMap<object, { statement: D1PreparedStatement; sql: string }>();

/** Any other property of a binding, as it is (methods bound to the real binding). */
function passThrough(target: object, prop: PropertyKey): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

function countingStatement(statement: D1PreparedStatement, sql: string, wiring: Wiring, replicaAllowed: boolean): D1PreparedStatement {
  const proxy = new Proxy(statement, {
    get(target, prop) {
      if (prop === 'bind') {
        return (...values: unknown[]) => countingStatement(target.bind(...values), sql, wiring, replicaAllowed);
      }
      if (STATEMENT_RUNS.has(prop)) {
        const run = Reflect.get(target, prop, target) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => d1RoundTrip(wiring, replicaAllowed, sql, [sql], () => run.apply(target, args));
      }
      return passThrough(target, prop);
    },
  });
  wrappedStatements.set(proxy, { statement, sql });
  return proxy;
}

/**
 * Whether a session's statements may be answered by a replica: every
 * constraint but `first-primary` allows one (the default,
 * `first-unconstrained`, and a bookmark; D1 read replication, Sessions API).
 */
function allowsReplica(constraint: string | undefined): boolean {
  return constraint !== 'first-primary';
}

/**
 * A D1 database (or a D1 session: it has the same prepare and batch) that
 * counts its round trips; `replicaAllowed` for a session that may read from a
 * replica. The database itself always goes to the primary.
 */
function countingD1<D extends D1Database | D1DatabaseSession>(db: D, wiring: Wiring, replicaAllowed: boolean): D {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => countingStatement(target.prepare(sql), sql, wiring, replicaAllowed);
      if (prop === 'batch') {
        return (list: D1PreparedStatement[]) => {
          const wrapped = list.map((statement) => wrappedStatements.get(statement));
          const sql = wrapped.map((entry) => entry?.sql ?? '');
          return d1RoundTrip(wiring, replicaAllowed, `batch(${list.length})`, sql, () =>
            target.batch(list.map((statement, i) => wrapped[i]?.statement ?? statement)),
          );
        };
      }
      if (prop === 'exec' && 'exec' in target) {
        return (sql: string) => d1RoundTrip(wiring, replicaAllowed, sql, [sql], () => target.exec(sql));
      }
      // A session's statements are round trips too (read replication, D1 Sessions API).
      if (prop === 'withSession' && 'withSession' in target) {
        return (constraint?: string) => countingD1(target.withSession(constraint), wiring, allowsReplica(constraint));
      }
      return passThrough(target, prop);
    },
  });
}

/** The key a KV call is about, for the PoP's cache: a list is its own key (its prefix). */
function kvKey(prop: PropertyKey, args: unknown[]): string {
  if (prop === 'list') return `list:${JSON.stringify(args[0] ?? {})}`;
  return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
}

function countingKv(kv: KVNamespace, wiring: Wiring): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (KV_READS.has(prop)) {
        return (...args: unknown[]) => kvCall(wiring, 'kvGet', kvKey(prop, args), () => value.apply(target, args));
      }
      if (KV_WRITES.has(prop)) {
        return (...args: unknown[]) => kvCall(wiring, 'kvPut', kvKey(prop, args), () => value.apply(target, args));
      }
      return value.bind(target);
    },
  });
}
