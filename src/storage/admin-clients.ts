import { and, count, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { containsPattern, likeEscaped } from './admin-users';
import type { Db } from './db';
import { type Client, clients, disabledClients, grants, refreshTokens, users } from './schema';

// The admin console's statements and reads about clients (issue 18): every
// client, whoever registered it (a user, anonymously, or a client ID metadata
// document), disabled or not. Plain builders: rarely run.

const clientColumns = {
  id: clients.id,
  name: clients.name,
  ownerId: clients.ownerId,
  ownerEmail: users.email,
  tokenEndpointAuthMethod: clients.tokenEndpointAuthMethod,
  grantTypes: clients.grantTypes,
  redirectUris: clients.redirectUris,
  scope: clients.scope,
  createdAt: clients.createdAt,
  metadataExpiresAt: clients.metadataExpiresAt,
  disabledAt: disabledClients.disabledAt,
};

export type AdminClientRow = {
  id: string;
  name: string;
  ownerId: string | null;
  ownerEmail: string | null;
  tokenEndpointAuthMethod: string;
  grantTypes: string[];
  redirectUris: string[];
  scope: string | null;
  createdAt: number;
  metadataExpiresAt: number | null;
  disabledAt: number | null;
};

/** How a client came to be: registered by a user, anonymously, or from a client ID metadata document (its id is an https URL). */
export function clientKind(client: Pick<AdminClientRow, 'id' | 'ownerId'>): 'owned' | 'anonymous' | 'metadata document' {
  if (client.ownerId) return 'owned';
  return client.id.startsWith('https://') ? 'metadata document' : 'anonymous';
}

/** One page of clients whose name, id or owner's email contains `search`, newest first (one row more tells there is a next page). */
export async function searchClients(db: Db, search: string | undefined, offset: number, limit: number): Promise<AdminClientRow[]> {
  const pattern = search ? containsPattern(search.toLowerCase()) : undefined;
  const where = pattern
    ? or(
        likeEscaped(sql`lower(${clients.name})`, pattern),
        likeEscaped(sql`lower(${clients.id})`, pattern),
        likeEscaped(users.email, pattern),
      )
    : undefined;
  return db
    .select(clientColumns)
    .from(clients)
    .leftJoin(users, eq(users.id, clients.ownerId))
    .leftJoin(disabledClients, eq(disabledClients.clientId, clients.id))
    .where(where)
    .orderBy(desc(clients.createdAt), clients.id)
    .limit(limit)
    .offset(offset);
}

export async function findAdminClient(db: Db, id: string): Promise<AdminClientRow | undefined> {
  const rows = await db
    .select(clientColumns)
    .from(clients)
    .leftJoin(users, eq(users.id, clients.ownerId))
    .leftJoin(disabledClients, eq(disabledClients.clientId, clients.id))
    .where(eq(clients.id, id))
    .limit(1);
  return rows[0];
}

/** A client's grants (the users who authorized it, and its own client_credentials grant), most recently used first. */
export async function grantsOfClient(db: Db, clientId: string, limit = 50) {
  return db
    .select({
      id: grants.id,
      userId: grants.userId,
      userEmail: users.email,
      scope: grants.scope,
      createdAt: grants.createdAt,
      lastUsedAt: grants.lastUsedAt,
    })
    .from(grants)
    .leftJoin(users, eq(users.id, grants.userId))
    .where(eq(grants.clientId, clientId))
    .orderBy(desc(sql`coalesce(${grants.lastUsedAt}, ${grants.updatedAt})`))
    .limit(limit);
}

/** How many of a client's refresh tokens can still be used. */
export async function liveRefreshTokenCount(db: Db, clientId: string, time: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.clientId, clientId), isNull(refreshTokens.usedAt), gt(refreshTokens.expiresAt, time)));
  return row?.n ?? 0;
}

/** Disables a client (see storage/clients.ts: it then authenticates nowhere); RETURNING is empty when it was disabled already or does not exist. */
export function disableClientStatement(db: Db, clientId: string, time: number, actorId: string) {
  return db
    .insert(disabledClients)
    .select(
      db
        .select({
          clientId: clients.id,
          disabledAt: sql<number>`${time}`.as('disabled_at'),
          disabledBy: sql<string>`${actorId}`.as('disabled_by'),
        })
        .from(clients)
        .where(eq(clients.id, clientId)),
    )
    .onConflictDoNothing()
    .returning({ clientId: disabledClients.clientId });
}

/**
 * Whether an admin disabled the client `clientId` names: a primary-key probe,
 * for the one path that cannot tell a disabled client from a missing one by
 * the client lookup (which skips disabled rows): a client ID metadata
 * document's, about to be fetched and stored afresh
 * (services/client-metadata-documents.ts).
 */
export async function isClientDisabled(db: Db, clientId: string): Promise<boolean> {
  const rows = await db
    .select({ clientId: disabledClients.clientId })
    .from(disabledClients)
    .where(eq(disabledClients.clientId, clientId))
    .limit(1);
  return rows.length > 0;
}

/** Enables a disabled client; RETURNING is empty when it was not disabled. */
export function enableClientStatement(db: Db, clientId: string) {
  return db.delete(disabledClients).where(eq(disabledClients.clientId, clientId)).returning({ clientId: disabledClients.clientId });
}

/**
 * Deletes a client. Foreign keys cascade to its grants (and so its codes,
 * refresh tokens and device authorizations), origins, pushed requests and
 * disabled mark; its access tokens stop at the bearer check, which needs the
 * grant. The audit trail keeps its id (no foreign key).
 */
export function deleteClientStatement(db: Db, clientId: string) {
  return db.delete(clients).where(eq(clients.id, clientId)).returning({ id: clients.id, ownerId: clients.ownerId });
}

/** An admin's disabled mark on a client, as stored. */
export type DisabledClientRow = typeof disabledClients.$inferSelect;

/** A client's whole row and its disabled mark (null when enabled), whatever registered it; undefined for no such client. */
export async function findClientAndMark(db: Db, id: string): Promise<{ client: Client; disabled: DisabledClientRow | null } | undefined> {
  const rows = await db
    .select({ client: clients, disabled: disabledClients })
    .from(clients)
    .leftJoin(disabledClients, eq(disabledClients.clientId, clients.id))
    .where(eq(clients.id, id))
    .limit(1);
  return rows[0];
}

/**
 * Puts a client's row and its disabled mark back, as the statements after
 * `deleteClientStatement` in the same batch: the delete's cascade takes
 * everything issued to the client, these keep the client itself, disabled.
 */
export function restoreDisabledClientStatements(db: Db, client: Client, disabled: DisabledClientRow) {
  return [db.insert(clients).values(client), db.insert(disabledClients).values(disabled)] as const;
}
