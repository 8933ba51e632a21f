import type { Deps } from '../deps';
import { auditStatement, recordAudit } from '../storage/audit';
import { corsOrigins, deleteClientOfOwner, insertClientOriginsStatement, insertClientStatement } from '../storage/clients';
import { clientCredentialsGrantStatement } from '../storage/grants';
import type { Client } from '../storage/schema';

/**
 * Registers a client in one D1 batch (one transaction), so a client never
 * exists half made: its row, the origins CORS will allow for it (a public
 * client's web redirect origins), its own grant when it may use
 * client_credentials (the grant its tokens are issued under), and the audit
 * event `client_created`.
 */
export async function createClient(deps: Deps, client: Client): Promise<void> {
  const { db } = deps;
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  await db.batch([
    insertClientStatement(db, client),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    ...(client.grantTypes.includes('client_credentials') ? [clientCredentialsGrantStatement(db, client.id)] : []),
    auditStatement(db, { type: 'client_created', userId: client.ownerId, clientId: client.id }),
  ]);
}

/**
 * Deletes one of the owner's clients, and with it everything issued to it
 * (see `deleteClientOfOwner`), audited `client_deleted`. The event follows the
 * deletion in its own round trip: it is recorded only when the DELETE found
 * the client. Returns false when the owner has no such client.
 */
export async function removeClient(deps: Deps, ownerId: string, clientId: string): Promise<boolean> {
  if (!(await deleteClientOfOwner(deps.db, ownerId, clientId))) return false;
  await recordAudit(deps.db, { type: 'client_deleted', userId: ownerId, clientId });
  return true;
}
