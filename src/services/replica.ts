import type { BatchItem } from 'drizzle-orm/batch';
import { REPLICA_CLOCK_REFRESH, REPLICA_MAX_STALENESS } from '../config';
import { type Deps, replicaRead } from '../deps';
import { now } from '../lib/crypto';
import type { BatchResults, Db, ReadSession } from '../storage/db';
import { replicaClockQuery, setReplicaClockStatement } from '../storage/replica-clock';

/**
 * Reads a check may take from a read replica (D1 read replication, Sessions
 * API), under two rules that keep a replica from changing any answer but how
 * fast it comes:
 *
 * 1. A replica may only say yes. Its answer is used only when `trusted` finds
 *    in it what lets the request through (the grant stands, the session
 *    exists, the client authenticates); anything else (a row it does not
 *    have yet, a grant narrower than a new token's scope, a rotated secret)
 *    is read again at the primary, whose answer is final. A replica that has
 *    not yet seen a new grant or token never causes a refusal.
 * 2. Its yes is at most REPLICA_MAX_STALENESS old. The batch also reads the
 *    replica clock, a row the primary sets to its time now and then
 *    (storage/replica-clock.ts). A replica applies the primary's writes in
 *    commit order, so one whose clock reads `at` has every write committed
 *    before `at`; its answer is used only when `at` is within
 *    REPLICA_MAX_STALENESS of now. A revocation answered at time r was
 *    committed before r: any replica that misses it has a clock older than r,
 *    and is used only until r + REPLICA_MAX_STALENESS. D1 documents no bound
 *    on replica lag; this bounds what the lag can cost, measured in the
 *    replica's own snapshot.
 *
 * A read at the primary because the replica was too stale also sets the
 * clock (when older than REPLICA_CLOCK_REFRESH), in the same batch: traffic
 * keeps the clock fresh with no Cron Trigger, and a quiet deployment's first
 * reads simply go to the primary.
 *
 * `reads` builds the batch over a Db (the primary's, whose queries the
 * session runs); `bookmark`, a browser's last write, asks for a replica at
 * least that fresh (D1 routes to the primary otherwise). One round trip,
 * to the replica; two when the replica's answer is not used.
 */
export async function readFromReplica<T extends BatchItem<'sqlite'>[]>(
  deps: Deps,
  reads: (db: Db) => readonly [...T],
  trusted: (results: NoInfer<BatchResults<T>>) => boolean,
  bookmark?: string,
): Promise<BatchResults<T>> {
  return (await replicaAnswer(deps, replicaRead(deps, bookmark), reads, trusted)) ?? readFromPrimary(deps, reads);
}

/**
 * `readFromReplica`'s replica half, in a session the caller keeps (to read
 * more in it afterwards, at least as fresh): the reads' results when the
 * replica's clock is fresh and `trusted` holds, else null (then the caller
 * reads at the primary: `readFromPrimary`).
 */
export async function replicaAnswer<T extends BatchItem<'sqlite'>[]>(
  deps: Deps,
  session: ReadSession,
  reads: (db: Db) => readonly [...T],
  trusted: (results: NoInfer<BatchResults<T>>) => boolean,
): Promise<BatchResults<T> | null> {
  const [clock, ...results] = (await session.batch([replicaClockQuery(deps.db), ...reads(deps.db)])) as unknown[];
  const at = (clock as { at: number }[])[0]?.at;
  const fresh = at !== undefined && now() - at <= REPLICA_MAX_STALENESS;
  return fresh && trusted(results as unknown as BatchResults<T>) ? (results as unknown as BatchResults<T>) : null;
}

/** The same reads at the primary, whose answer is final; the batch also sets the replica clock when it is older than REPLICA_CLOCK_REFRESH. */
export async function readFromPrimary<T extends BatchItem<'sqlite'>[]>(
  deps: Deps,
  reads: (db: Db) => readonly [...T],
): Promise<BatchResults<T>> {
  const { db } = deps;
  const time = now();
  const batch = [...reads(db), setReplicaClockStatement(db, time, time - REPLICA_CLOCK_REFRESH)] as const;
  const results = await db.batch(batch as unknown as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]]);
  return results.slice(0, -1) as unknown as BatchResults<T>;
}
