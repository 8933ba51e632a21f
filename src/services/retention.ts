import type { Bindings } from '../bindings';
import { AUDIT_RETENTION_DAYS_DEFAULT, EXPIRED_ROW_RETENTION } from '../config';
import type { Deps } from '../deps';
import { pruneCountersStatement } from '../storage/admin-audit';
import { pruneAuditStatement } from '../storage/audit';
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

/**
 * How long audit events and the dashboard's counters are kept, seconds: the
 * `AUDIT_RETENTION_DAYS` var (a whole number of days, 1 to 3650), else
 * AUDIT_RETENTION_DAYS_DEFAULT (90). A value that is not such a number keeps
 * the default rather than deleting more than asked.
 */
export function auditRetention(env: Pick<Bindings, 'AUDIT_RETENTION_DAYS'>): number {
  const raw = env.AUDIT_RETENTION_DAYS?.trim();
  const days = raw && /^[0-9]{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  return (days >= 1 && days <= 3650 ? days : AUDIT_RETENTION_DAYS_DEFAULT) * 24 * 60 * 60;
}

/**
 * Deletes audit events and hourly counters older than the retention (the
 * Cron Trigger), in one D1 batch: the charts never show counts whose events
 * are gone, nor the reverse.
 */
export async function pruneAuditHistory({ db, env }: Pick<Deps, 'db' | 'env'>, time: number): Promise<void> {
  const before = time - auditRetention(env);
  await db.batch([pruneAuditStatement(db, before), pruneCountersStatement(db, before)]);
}
