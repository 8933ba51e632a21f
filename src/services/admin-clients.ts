import type { Deps } from '../deps';
import { now } from '../lib/crypto';
import { auditIfChangedStatement, auditLog } from '../storage/admin-audit';
import {
  type AdminClientRow,
  clientKind,
  deleteClientStatement,
  disableClientStatement,
  enableClientStatement,
  findAdminClient,
  findClientAndMark,
  grantsOfClient,
  liveRefreshTokenCount,
  restoreDisabledClientStatements,
  searchClients,
} from '../storage/admin-clients';
import type { Actor, AdminActionResult, Page } from './admin-users';
import { readPage } from './admin-users';

export function findClients({ db }: Deps, search: string | undefined, page: number): Promise<Page<AdminClientRow>> {
  return readPage(page, (offset, limit) => searchClients(db, search, offset, limit));
}

/** Everything a client's admin page shows: the client, its grants, and its recent token activity; undefined for no such client. */
export async function clientOverview({ db }: Deps, clientId: string) {
  const client = await findAdminClient(db, clientId);
  if (!client) return undefined;
  const [grants, liveRefreshTokens, activity] = await Promise.all([
    grantsOfClient(db, clientId),
    liveRefreshTokenCount(db, clientId, now()),
    auditLog(db, { clientId }, 0, 20),
  ]);
  return { client, grants, liveRefreshTokens, activity };
}

/**
 * Disables a client, with its audit event, in one batch: it then
 * authenticates nowhere (storage/clients.ts: every client lookup and the
 * token endpoint's guard skip it) and the bearer check refuses its tokens
 * (storage/grants.ts). Nothing is deleted, so enabling it restores it whole.
 */
export async function disableClient(deps: Deps, actor: Actor, clientId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const [disabled] = await db.batch([
    disableClientStatement(db, clientId, time, actor.id),
    auditIfChangedStatement(db, { type: 'client_disabled', clientId, actorId: actor.id, ip: actor.ip }, time),
  ]);
  if (disabled.length > 0) return 'done';
  return (await findAdminClient(db, clientId)) ? 'unchanged' : 'not_found';
}

export async function enableClient(deps: Deps, actor: Actor, clientId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const [enabled] = await db.batch([
    enableClientStatement(db, clientId),
    auditIfChangedStatement(db, { type: 'client_enabled', clientId, actorId: actor.id, ip: actor.ip }, time),
  ]);
  if (enabled.length > 0) return 'done';
  return (await findAdminClient(db, clientId)) ? 'unchanged' : 'not_found';
}

/**
 * Deletes a client and, by cascade, everything issued to it (storage/admin-clients.ts), with the audit event, in one batch.
 *
 * A disabled client ID metadata document client keeps its row and its
 * disabled mark: its id is a URL anyone may present again, and with neither
 * the next use would fetch the document and store the client afresh, enabled
 * (services/client-metadata-documents.ts), undoing the admin's disable. So
 * the same cascade takes what was issued to it, and the same batch puts the
 * row back, still disabled, with its metadata expired: were it ever enabled,
 * its document is fetched and checked again. An enabled one is deleted
 * whole, and comes back on its next use like any new document client; the
 * client's admin page says so where Delete is offered.
 */
export async function deleteClientAsAdmin(deps: Deps, actor: Actor, clientId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const found = await findClientAndMark(db, clientId);
  if (!found) return 'not_found';
  const { client, disabled } = found;
  const keepDisabled = disabled !== null && clientKind(client) === 'metadata document';
  const [deleted] = await db.batch([
    deleteClientStatement(db, clientId),
    auditIfChangedStatement(db, { type: 'client_deleted', clientId, actorId: actor.id, ip: actor.ip }, time),
    ...(keepDisabled ? restoreDisabledClientStatements(db, { ...client, metadataExpiresAt: time }, disabled) : []),
  ]);
  return deleted.length > 0 ? 'done' : 'not_found';
}
