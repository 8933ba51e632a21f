import { env } from 'cloudflare:test';
import { app } from '../src/app';
import { REPLICA_MAX_STALENESS } from '../src/config';
import { now } from '../src/lib/crypto';
import { type Browser, ISSUER } from './helpers';

/** Sets the replica clock (storage/replica-clock.ts) `age` seconds into the past, at the primary. */
export async function setReplicaClock(age = 0): Promise<void> {
  await env.DB.prepare('update replica_clock set at = ? where id = 1')
    .bind(now() - age)
    .run();
}

/** The replica clock as the primary has it. */
export async function replicaClockAt(): Promise<number> {
  return ((await env.DB.prepare('select at from replica_clock where id = 1').first()) as { at: number }).at;
}

/** A clock age a replica's answer is still used at, and one it is not. */
export const FRESH = REPLICA_MAX_STALENESS - 10;
export const STALE = REPLICA_MAX_STALENESS + 1;

/**
 * A statement's parameter as a replica's answer is keyed: the current time a
 * query binds (a session's expiry check, say) as one placeholder, so the
 * replica answers the same query asked a second later as it did before.
 */
function timeless(param: unknown): unknown {
  return typeof param === 'number' && Math.abs(param - now()) < 3600 ? 'now' : param;
}

/**
 * A D1 binding whose read replica lags: local D1 has no replicas, so this
 * stands one in. Until `freeze()`, every batch made through a session
 * (`withSession`) runs on the database and its answer is recorded; after,
 * the replica has stopped applying the primary's writes: a batch it answered
 * before gets the same answer (the grant it saw, the clock it had), and a
 * batch it never saw gets no rows (a grant or token it does not know yet).
 * Everything outside a session, the primary, runs on the database as usual;
 * so does a session opened with a bookmark newer than the replica's state
 * (D1 then routes it to the primary, or a replica that fresh).
 */
export function laggingReplica(d1: D1Database = env.DB) {
  const answers = new Map<string, unknown>();
  let frozen = false;
  /** The primary's bookmark when the replica froze: what it has seen. */
  let frozenAt = '';
  const replicaBatches: string[] = [];
  // A statement prepared on a replica session: run alone, it too is answered
  // as recorded once frozen (a page's lists); in a batch, the real one runs.
  const real = new WeakMap<object, D1PreparedStatement>();
  const replicaStatement = (statement: D1PreparedStatement, sql: string, params: unknown[], live: boolean): D1PreparedStatement => {
    const run =
      (method: 'all' | 'raw' | 'first' | 'run', none: unknown) =>
      async (...args: unknown[]) => {
        const key = JSON.stringify([method, sql, params.map(timeless), args]);
        if (frozen && !live) return answers.has(key) ? answers.get(key) : none;
        const answer = await (statement[method] as (...a: unknown[]) => Promise<unknown>).apply(statement, args);
        if (!frozen) answers.set(key, answer as never); // what the replica saw before it froze
        return answer;
      };
    const wrapped = {
      statement: sql,
      params,
      bind: (...values: unknown[]) => replicaStatement(statement.bind(...values), sql, values, live),
      all: run('all', { results: [], success: true, meta: {} }),
      raw: run('raw', []),
      first: run('first', null),
      run: run('run', { results: [], success: true, meta: {} }),
    } as unknown as D1PreparedStatement;
    real.set(wrapped, statement);
    return wrapped;
  };
  const binding = new Proxy(d1, {
    get(target, prop) {
      if (prop === 'withSession') {
        return (constraint?: string) => {
          const session = target.withSession(constraint);
          // A session that starts at the primary is the primary's (a browser's write).
          if (constraint === 'first-primary') return session;
          // A bookmark newer than the replica: D1 does not let it answer.
          const newer = constraint !== undefined && /^[0-9a-f]/i.test(constraint) && constraint.localeCompare(frozenAt) > 0;
          return {
            prepare: (sql: string) => replicaStatement(session.prepare(sql), sql, [], newer),
            getBookmark: () => session.getBookmark(),
            async batch(statements: D1PreparedStatement[]) {
              const key = JSON.stringify(
                statements.map((statement) => {
                  const { statement: sql, params } = statement as unknown as { statement: string; params: unknown[] };
                  return [sql, params.map(timeless)];
                }),
              );
              replicaBatches.push(key);
              if (frozen && !newer) {
                return (
                  (answers.get(key) as D1Result[] | undefined) ??
                  statements.map(() => ({ results: [], success: true, meta: {} }) as unknown as D1Result)
                );
              }
              const answer = await session.batch(statements.map((statement) => real.get(statement) ?? statement));
              if (!frozen) answers.set(key, answer);
              return answer;
            },
          };
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    /** The binding to hand the Worker: `{ ...env, DB: replica.binding }`. */
    binding,
    env: { ...env, DB: binding } as typeof env,
    /** From now on the replica answers as it did, and knows nothing newer. */
    async freeze() {
      const primary = d1.withSession('first-primary');
      await primary.prepare('select 1').run();
      frozenAt = primary.getBookmark() ?? '';
      frozen = true;
    },
    /** How many batches were made through a session (a replica's round trips). */
    get replicaBatches() {
      return replicaBatches.length;
    },
  };
}

/** `browser`'s request, made against `on` (the Worker's bindings, e.g. a lagging replica's), keeping its cookies as the Browser does. */
export async function visit(browser: Browser, path: string, on: typeof env, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('Cookie', [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
  const response = await app.request(`${ISSUER}${path}`, { ...init, headers }, on);
  for (const cookie of response.headers.getSetCookie()) {
    const [pair = ''] = cookie.split(';');
    const eq = pair.indexOf('=');
    browser.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return response;
}
