import { and, desc, eq, sql } from 'drizzle-orm';
import { auditStatement, recordAudit } from './audit';
import type { Db } from './db';
import { clientCredentialsGrantStatement } from './grants';
import { bind, preparedOnce } from './prepared';
import { type Client, clientOrigins, clients } from './schema';

/**
 * Web origins a browser may call the token endpoints from for this client:
 * those of a public client's http(s) redirect URIs. Confidential clients keep
 * their secret on a server and get none.
 */
export function corsOrigins(client: Pick<Client, 'tokenEndpointAuthMethod' | 'redirectUris'>): string[] {
  if (client.tokenEndpointAuthMethod !== 'none') return [];
  const origins = client.redirectUris.filter((uri) => /^https?:\/\//.test(uri)).map((uri) => new URL(uri).origin);
  return [...new Set(origins)];
}

/**
 * Registers a client in one D1 transaction: the client, the origins CORS will
 * allow for it, and, when it may use client_credentials, its own grant.
 */
export async function insertClient(db: Db, client: Client): Promise<void> {
  const origins = corsOrigins(client);
  await db.batch([
    db.insert(clients).values(client),
    ...(origins.length > 0 ? [db.insert(clientOrigins).values(origins.map((origin) => ({ origin, clientId: client.id })))] : []),
    ...(client.grantTypes.includes('client_credentials') ? [clientCredentialsGrantStatement(db, client.id)] : []),
    auditStatement(db, { type: 'client_created', userId: client.ownerId, clientId: client.id }),
  ]);
}

/** Whether `origin` is one of the client's CORS origins (without the client: any public client's). */
export async function isClientOrigin(db: Db, origin: string, clientId?: string): Promise<boolean> {
  const rows = await db
    .select({ origin: clientOrigins.origin })
    .from(clientOrigins)
    .where(
      clientId === undefined
        ? eq(clientOrigins.origin, origin)
        : and(eq(clientOrigins.origin, origin), eq(clientOrigins.clientId, clientId)),
    )
    .limit(1);
  return rows.length > 0;
}

export async function findClient(db: Db, id: string): Promise<Client | undefined> {
  return (await clientQuery(db, id))[0];
}

// Every client authentication reads this: prepared once (see prepared.ts).
const clientById = preparedOnce((db) =>
  db
    .select()
    .from(clients)
    .where(eq(clients.id, sql.placeholder('id')))
    .limit(1)
    .prepare(),
);

/** The client lookup, unexecuted, to share a D1 batch. */
export function clientQuery(db: Db, id: string) {
  return bind(clientById(db), { id });
}

export async function listClientsOfOwner(db: Db, ownerId: string): Promise<Client[]> {
  return db.select().from(clients).where(eq(clients.ownerId, ownerId)).orderBy(desc(clients.createdAt));
}

/**
 * Deletes one of the owner's clients. Foreign keys cascade to its grants and
 * through them to its codes, so everything issued to it ends with it.
 * Returns false when the owner has no such client.
 */
export async function deleteClientOfOwner(db: Db, ownerId: string, id: string): Promise<boolean> {
  const deleted = await db
    .delete(clients)
    .where(and(eq(clients.id, id), eq(clients.ownerId, ownerId)))
    .returning({ id: clients.id });
  if (deleted.length === 0) return false;
  await recordAudit(db, { type: 'client_deleted', userId: ownerId, clientId: id });
  return true;
}
