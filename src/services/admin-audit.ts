import { ADMIN_SEARCH_MAX_LENGTH, AUDIT_CSV_MAX_ROWS } from '../config';
import type { Deps } from '../deps';
import { type AuditFilter, type AuditLogRow, auditLog } from '../storage/admin-audit';
import type { AuditEventType } from '../storage/schema';
import { findUserByEmail } from '../storage/users';
import { type Page, readPage } from './admin-users';

/** Every audit event type, for the log's type filter (a new type is added here and in schema.ts). */
export const AUDIT_EVENT_TYPES = [
  'sign_in',
  'sign_in_failed',
  'sign_in_limited',
  'sign_in_refused',
  'consent_granted',
  'grant_revoked',
  'refresh_reuse',
  'code_replay',
  'client_created',
  'client_deleted',
  'client_updated',
  'client_secret_rotated',
  'client_disabled',
  'client_enabled',
  'key_rotated',
  'user_disabled',
  'user_enabled',
  'user_signed_out',
  'password_reset_required',
  'two_factor_reset',
  'admin_granted',
  'admin_revoked',
  'password_accepted',
  'two_factor_enabled',
  'two_factor_disabled',
  'two_factor_failed',
  'recovery_code_used',
  'passkey_added',
  'passkey_removed',
  'passkey_sign_in_failed',
  'passkey_clone_suspected',
  'password_reset',
  'email_verified',
  'session_ended',
] as const satisfies readonly AuditEventType[];

/** The audit log's filters as an admin types them: a user by email or id, a client id, a type, a time range. */
export interface AuditQuery {
  user?: string | undefined;
  client?: string | undefined;
  type?: AuditEventType | undefined;
  from?: number | undefined;
  to?: number | undefined;
}

/** The filter in stored terms; null when the user named by email does not exist (so nothing matches). */
async function toFilter({ db }: Deps, query: AuditQuery): Promise<AuditFilter | null> {
  let userId = query.user;
  if (userId?.includes('@')) {
    const user = await findUserByEmail(db, userId.trim().toLowerCase());
    if (!user) return null;
    userId = user.id;
  }
  return { userId, clientId: query.client, type: query.type, from: query.from, to: query.to };
}

export async function findAuditEvents(deps: Deps, query: AuditQuery, page: number): Promise<Page<AuditLogRow>> {
  const filter = await toFilter(deps, query);
  if (!filter) return { rows: [], page, hasNext: false };
  return readPage(page, (offset, limit) => auditLog(deps.db, filter, offset, limit));
}

/**
 * A CSV cell (RFC 4180 §2): always quoted, quotes doubled. A cell a
 * spreadsheet would run as a formula (starting with =, +, -, @, or a tab or
 * carriage return that hides one) gets a leading apostrophe (OWASP "CSV
 * Injection"): user names, client names and ids are chosen by anyone.
 */
export function csvCell(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

const CSV_COLUMNS = ['time', 'type', 'user_id', 'user_email', 'client_id', 'client_name', 'ip', 'actor_id', 'actor_email'] as const;

/** The audit events matching the filters as CSV (RFC 4180, CRLF lines), newest first, at most AUDIT_CSV_MAX_ROWS. */
export async function auditCsv(deps: Deps, query: AuditQuery): Promise<string> {
  const filter = await toFilter(deps, query);
  const rows = filter ? await auditLog(deps.db, filter, 0, AUDIT_CSV_MAX_ROWS) : [];
  const lines = [CSV_COLUMNS.map(csvCell).join(',')];
  for (const row of rows) {
    lines.push(
      [
        new Date(row.at * 1000).toISOString(),
        row.type,
        row.userId,
        row.userEmail,
        row.clientId,
        row.clientName,
        row.ip,
        row.actorId,
        row.actorEmail,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The longest filter value accepted. */
export const AUDIT_FILTER_MAX_LENGTH = ADMIN_SEARCH_MAX_LENGTH;
