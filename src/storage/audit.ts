import { desc, eq, lt, sql } from 'drizzle-orm';
import { now } from '../lib/crypto';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { type AuditEventType, auditEvents, clients } from './schema';

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  /** The admin who acted on `userId` or `clientId`, when not the user themselves (the admin console). */
  actorId?: string | null;
}

/** The insert for one event, unexecuted, to share a D1 batch with the change it records. */
export function auditStatement(db: Db, event: AuditEvent) {
  return bind(insertAuditEvent(db), {
    at: now(),
    type: event.type,
    userId: event.userId ?? null,
    clientId: event.clientId ?? null,
    ip: event.ip ?? null,
    actorId: event.actorId ?? null,
  });
}

// Consent, sign-in and revocation record events: prepared once (see prepared.ts).
const insertAuditEvent = preparedOnce((db) =>
  db
    .insert(auditEvents)
    .values({
      at: sql.placeholder('at'),
      type: sql.placeholder('type'),
      userId: sql.placeholder('userId'),
      clientId: sql.placeholder('clientId'),
      ip: sql.placeholder('ip'),
      actorId: sql.placeholder('actorId'),
    })
    .prepare(),
);

export async function recordAudit(db: Db, event: AuditEvent): Promise<void> {
  await auditStatement(db, event);
}

/** Deletes events older than `before` (the Cron Trigger keeps `AUDIT_RETENTION_DAYS`: services/retention.ts). Unexecuted, to share a batch. */
export function pruneAuditStatement(db: Db, before: number) {
  return db.delete(auditEvents).where(lt(auditEvents.at, before));
}

/** A user's latest events, newest first, with the client's name when it still exists. */
export async function recentActivity(db: Db, userId: string, limit = 10) {
  return db
    .select({ at: auditEvents.at, type: auditEvents.type, clientName: clients.name, ip: auditEvents.ip })
    .from(auditEvents)
    .leftJoin(clients, eq(clients.id, auditEvents.clientId))
    .where(eq(auditEvents.userId, userId))
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(limit);
}
