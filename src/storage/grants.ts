import { and, desc, eq, sql } from 'drizzle-orm';
import { now } from '../services/crypto';
import type { Db } from './db';
import { clients, grants } from './schema';

export async function findGrant(db: Db, userId: string, clientId: string) {
  return db.query.grants.findFirst({ where: and(eq(grants.userId, userId), eq(grants.clientId, clientId)) });
}

/**
 * The statement that records a user's approval of `scope` for a client: a new
 * grant, or the existing one widened to `scope` (the caller passes the union).
 * Returned unexecuted so it can share a D1 batch with the code it authorizes.
 */
export function upsertGrantStatement(db: Db, userId: string, clientId: string, scope: string) {
  const time = now();
  return db
    .insert(grants)
    .values({ id: crypto.randomUUID(), userId, clientId, scope, createdAt: time, updatedAt: time })
    .onConflictDoUpdate({ target: [grants.userId, grants.clientId], set: { scope, updatedAt: time } });
}

/** The id of the (user, client) grant, as a subquery for statements in the same batch. */
export function grantIdSubquery(userId: string, clientId: string) {
  return sql`(select ${grants.id} from ${grants} where ${grants.userId} = ${userId} and ${grants.clientId} = ${clientId})`;
}

/** True while the grant exists: revoking a grant deletes it, which ends every token it backs. */
export async function isGrantLive(db: Db, grantId: string): Promise<boolean> {
  const row = await db.select({ id: grants.id }).from(grants).where(eq(grants.id, grantId)).limit(1);
  return row.length > 0;
}

/** The apps a user has authorized, newest first, with the client's name. */
export async function listGrantsOfUser(db: Db, userId: string) {
  return db
    .select({
      id: grants.id,
      clientId: grants.clientId,
      clientName: clients.name,
      scope: grants.scope,
      createdAt: grants.createdAt,
      updatedAt: grants.updatedAt,
    })
    .from(grants)
    .innerJoin(clients, eq(clients.id, grants.clientId))
    .where(eq(grants.userId, userId))
    .orderBy(desc(grants.updatedAt));
}

/** Revokes one of the user's grants; its codes go with it (foreign key cascade). */
export async function deleteGrantOfUser(db: Db, userId: string, grantId: string): Promise<boolean> {
  const deleted = await db
    .delete(grants)
    .where(and(eq(grants.id, grantId), eq(grants.userId, userId)))
    .returning({ id: grants.id });
  return deleted.length > 0;
}
