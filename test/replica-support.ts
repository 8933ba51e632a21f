import { env } from 'cloudflare:test';
import { REPLICA_MAX_STALENESS } from '../src/config';
import { now } from '../src/lib/crypto';

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
 * A D1 binding whose read replica lags: local D1 has no replicas, so this
 * stands one in. Until `freeze()`, every batch made through a session
 * (`withSession`) runs on the database and its answer is recorded; after,
 * the replica has stopped applying the primary's writes: a batch it answered
 * before gets the same answer (the grant it saw, the clock it had), and a
 * batch it never saw gets no rows (a grant or token it does not know yet).
 * Everything outside a session, the primary, runs on the database as usual.
 */
export function laggingReplica(d1: D1Database = env.DB) {
  const answers = new Map<string, D1Result[]>();
  let frozen = false;
  const replicaBatches: string[] = [];
  const binding = new Proxy(d1, {
    get(target, prop) {
      if (prop === 'withSession') {
        return (constraint?: string) => {
          const session = target.withSession(constraint);
          return {
            prepare: (sql: string) => session.prepare(sql),
            getBookmark: () => session.getBookmark(),
            async batch(statements: D1PreparedStatement[]) {
              const key = JSON.stringify(
                statements.map((statement) => {
                  const { statement: sql, params } = statement as unknown as { statement: string; params: unknown[] };
                  return [sql, params];
                }),
              );
              replicaBatches.push(key);
              if (frozen) {
                return answers.get(key) ?? statements.map(() => ({ results: [], success: true, meta: {} }) as unknown as D1Result);
              }
              const answer = await session.batch(statements);
              answers.set(key, answer);
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
    freeze() {
      frozen = true;
    },
    /** How many batches were made through a session (a replica's round trips). */
    get replicaBatches() {
      return replicaBatches.length;
    },
  };
}
