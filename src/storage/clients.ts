import { and, desc, eq } from 'drizzle-orm';
import type { Db } from './db';
import { clients, type Client } from './schema';

export async function insertClient(db: Db, client: Client): Promise<void> {
  await db.insert(clients).values(client);
}

export async function findClient(db: Db, id: string): Promise<Client | undefined> {
  return db.query.clients.findFirst({ where: eq(clients.id, id) });
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
  return deleted.length > 0;
}
