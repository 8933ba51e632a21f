import { EXPIRED_ROW_RETENTION } from '../config';
import type { Deps } from '../deps';
import { pruneExpiredStatements } from '../storage/retention';

/**
 * Deletes codes, refresh tokens, sessions and user API tokens that expired
 * more than EXPIRED_ROW_RETENTION ago (the Cron Trigger): without it each
 * table grows by a row per code flow, refresh or sign-in for as long as the
 * grant or user stands (docs/scaling.md). The deletes share one D1 batch: one
 * round trip, and one transaction, so a run that fails deletes nothing and
 * the next run does it all.
 */
export async function pruneExpiredRows({ db }: Pick<Deps, 'db'>, time: number): Promise<void> {
  await db.batch(pruneExpiredStatements(db, time - EXPIRED_ROW_RETENTION));
}
