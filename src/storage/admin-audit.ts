import { and, asc, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { AuditEvent } from './audit';
import type { Db } from './db';
import { type AuditEventType, auditCounters, auditEvents, clients, users } from './schema';

// The admin console's audit log and dashboard reads (issue 18), and the
// audit statements of admin actions. Plain builders: rarely run.

export interface AuditFilter {
  userId?: string | undefined;
  clientId?: string | undefined;
  type?: AuditEventType | undefined;
  /** Inclusive lower bound of `at`, seconds. */
  from?: number | undefined;
  /** Exclusive upper bound of `at`, seconds. */
  to?: number | undefined;
}

const actors = alias(users, 'actor');

function filterWhere(filter: AuditFilter): SQL | undefined {
  return and(
    filter.userId ? eq(auditEvents.userId, filter.userId) : undefined,
    filter.clientId ? eq(auditEvents.clientId, filter.clientId) : undefined,
    filter.type ? eq(auditEvents.type, filter.type) : undefined,
    filter.from !== undefined ? gte(auditEvents.at, filter.from) : undefined,
    filter.to !== undefined ? lt(auditEvents.at, filter.to) : undefined,
  );
}

export type AuditLogRow = {
  id: number;
  at: number;
  type: AuditEventType;
  userId: string | null;
  userEmail: string | null;
  clientId: string | null;
  clientName: string | null;
  ip: string | null;
  actorId: string | null;
  actorEmail: string | null;
};

/**
 * Audit events matching the filter, newest first. Each filter has an index
 * with `at` (user, client, type; `at` alone for a time range), so a page reads
 * about its own rows.
 */
export async function auditLog(db: Db, filter: AuditFilter, offset: number, limit: number): Promise<AuditLogRow[]> {
  return db
    .select({
      id: auditEvents.id,
      at: auditEvents.at,
      type: auditEvents.type,
      userId: auditEvents.userId,
      userEmail: users.email,
      clientId: auditEvents.clientId,
      clientName: clients.name,
      ip: auditEvents.ip,
      actorId: auditEvents.actorId,
      actorEmail: actors.email,
    })
    .from(auditEvents)
    .leftJoin(users, eq(users.id, auditEvents.userId))
    .leftJoin(clients, eq(clients.id, auditEvents.clientId))
    .leftJoin(actors, eq(actors.id, auditEvents.actorId))
    .where(filterWhere(filter))
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(limit)
    .offset(offset);
}

/**
 * An admin action's audit event, written only when the statement just before
 * it in the batch changed a row (SQLite `changes()`: the rows that statement
 * changed itself, not its triggers'), so a refused or idle action leaves no
 * event. Unexecuted, to follow that statement in its batch.
 */
export function auditIfChangedStatement(db: Db, event: AuditEvent, at: number) {
  // Drizzle inserts a raw SELECT into every column of the table, in its order (id, at, type, user_id, client_id, ip, actor_id).
  return db
    .insert(auditEvents)
    .select(
      sql`select null, ${at}, ${event.type}, ${event.userId ?? null}, ${event.clientId ?? null}, ${event.ip ?? null}, ${event.actorId ?? null} where changes() > 0`,
    );
}

/** The counters of every event since `since` (an hour's first second), oldest first: at most (hours × events) rows, whatever the log's size. */
export function countersSinceQuery(db: Db, since: number) {
  return db
    .select({ hour: auditCounters.hour, event: auditCounters.event, count: auditCounters.count })
    .from(auditCounters)
    .where(gte(auditCounters.hour, since))
    .orderBy(asc(auditCounters.hour));
}

/** Counts one event that has no audit row (the app's unexpected errors), in its hour. Unexecuted. */
export function countEventStatement(db: Db, event: string, at: number) {
  const hour = Math.floor(at / 3600) * 3600;
  return db
    .insert(auditCounters)
    .values({ hour, event, count: 1 })
    .onConflictDoUpdate({ target: [auditCounters.hour, auditCounters.event], set: { count: sql`${auditCounters.count} + 1` } });
}

/** Deletes counters of hours before `before` (the Cron Trigger, with the events). Unexecuted. */
export function pruneCountersStatement(db: Db, before: number) {
  return db.delete(auditCounters).where(lt(auditCounters.hour, before));
}
