import { ADMIN_SEARCH_MAX_LENGTH, AUDIT_CSV_MAX_ROWS } from '../config';
import type { Deps } from '../deps';
import { type AuditFilter, type AuditLogRow, auditLog } from '../storage/admin-audit';
import type { AuditEventType } from '../storage/schema';
import { findUserByEmail } from '../storage/users';
import { type Page, readPage } from './admin-users';

/**
 * Every audit event type (schema.ts `AuditEventType`) as an object's keys:
 * `satisfies Record<AuditEventType, true>` refuses to compile while a type of
 * the union is missing here, or one is here that the union lacks, so the log's
 * type filter (page, CSV, API) cannot fall behind the events written.
 */
const AUDIT_EVENT_TYPE_SET = {
  sign_in: true,
  sign_in_failed: true,
  sign_in_limited: true,
  sign_in_refused: true,
  consent_granted: true,
  grant_revoked: true,
  refresh_reuse: true,
  code_replay: true,
  client_created: true,
  client_deleted: true,
  client_updated: true,
  client_secret_rotated: true,
  client_disabled: true,
  client_enabled: true,
  key_rotated: true,
  user_disabled: true,
  user_enabled: true,
  user_signed_out: true,
  password_reset_required: true,
  two_factor_reset: true,
  admin_granted: true,
  admin_revoked: true,
  password_accepted: true,
  two_factor_enabled: true,
  two_factor_disabled: true,
  two_factor_failed: true,
  recovery_code_used: true,
  passkey_added: true,
  passkey_removed: true,
  passkey_sign_in_failed: true,
  passkey_clone_suspected: true,
  password_reset: true,
  email_verified: true,
  session_ended: true,
  identity_linked: true,
  identity_unlinked: true,
  upstream_accepted: true,
} as const satisfies Record<AuditEventType, true>;

/** Every audit event type, for the log's type filter (its menu and `?type=`), in AUDIT_EVENT_TYPE_SET's order. */
export const AUDIT_EVENT_TYPES = Object.keys(AUDIT_EVENT_TYPE_SET) as [AuditEventType, ...AuditEventType[]];

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
