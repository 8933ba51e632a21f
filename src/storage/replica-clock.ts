import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { replicaClock } from './schema';

const clockRead = preparedOnce((db) => db.select({ at: replicaClock.at }).from(replicaClock).where(eq(replicaClock.id, 1)).prepare());

/** The replica clock's time (Unix seconds), as the database that answers sees it; unexecuted, for a replica read's batch. */
export function replicaClockQuery(db: Db) {
  return bind(clockRead(db), {});
}

const clockSet = preparedOnce((db) =>
  db
    .update(replicaClock)
    .set({ at: sql`${sql.placeholder('now')}` })
    .where(and(eq(replicaClock.id, 1), lt(replicaClock.at, sql.placeholder('olderThan'))))
    .prepare(),
);

/**
 * Sets the replica clock to `now` when it is older than `olderThan`: the
 * condition keeps a burst of reads that all found a stale replica to one
 * write. Unexecuted, to ride in a primary batch.
 */
export function setReplicaClockStatement(db: Db, now: number, olderThan: number) {
  return bind(clockSet(db), { now, olderThan });
}
