import { z } from 'zod';
import { ADMIN_MAX_PAGE, ADMIN_SEARCH_MAX_LENGTH, CLIENT_ID_MAX_LENGTH, GRANT_ID_MAX_LENGTH } from '../config';
import { boundedString, clientIdParam } from '../lib/params';
import { AUDIT_EVENT_TYPES, type AuditQuery } from '../services/admin-audit';

// The admin console's inputs, shared by its pages (routes/admin.tsx) and its
// JSON API (routes/admin-api.ts): one schema each.

/** A text filter: trimmed, bounded; empty means no filter. */
const filterText = (max: number) =>
  boundedString(max)
    .trim()
    .optional()
    .transform((value) => value || undefined);

/** `page`: 1-based, bounded (offset paging past ADMIN_MAX_PAGE would read too much); absent means 1. */
const pageParam = z
  .string()
  .regex(/^[1-9][0-9]{0,5}$/, 'is not a page number')
  .transform(Number)
  .pipe(z.number().max(ADMIN_MAX_PAGE, `is past the last page (${ADMIN_MAX_PAGE})`))
  .optional()
  .transform((page) => page ?? 1);

/** A list's query: `q` (search) and `page`. */
export const listQuery = z.object({ q: filterText(ADMIN_SEARCH_MAX_LENGTH), page: pageParam });

/** A user's id in a path (a UUID; bounded like a grant id). */
export const userPath = z.object({ id: z.string().min(1).max(GRANT_ID_MAX_LENGTH) });
/** A client's id in a path: random, or the https URL of a client ID metadata document. */
export const clientPath = z.object({ id: clientIdParam.min(1) });
export const rolePath = userPath.extend({ role: z.enum(['user', 'admin']) });
export const roleBody = z.object({ role: z.enum(['user', 'admin']) });

/** `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]` (an HTML datetime-local field), read as UTC. */
const instant = z
  .string()
  .trim()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/, 'is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)')
  .transform((value, ctx) => {
    const ms = Date.parse(value.includes('T') ? `${value}Z` : `${value}T00:00:00Z`);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'is not a date' });
      return z.NEVER;
    }
    return Math.floor(ms / 1000);
  });

const optionalInstant = z
  .literal('')
  .transform(() => undefined)
  .or(instant)
  .optional();

/** The audit log's filters (pages and API alike), and `page`. */
export const auditQuery = z.object({
  user: filterText(ADMIN_SEARCH_MAX_LENGTH),
  client: filterText(CLIENT_ID_MAX_LENGTH),
  type: z
    .literal('')
    .transform(() => undefined)
    .or(z.enum(AUDIT_EVENT_TYPES))
    .optional(),
  from: optionalInstant,
  to: optionalInstant,
  page: pageParam,
});

/** The stored-terms query of a parsed `auditQuery`. */
export function toAuditQuery(parsed: z.infer<typeof auditQuery>): AuditQuery {
  return { user: parsed.user, client: parsed.client, type: parsed.type, from: parsed.from, to: parsed.to };
}
