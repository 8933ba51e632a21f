import { and, desc, eq, isNotNull, isNull, lt, notInArray, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { GrantType } from '../config';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { type CachedJwks, type Client, clientOrigins, clients, codes, grants } from './schema';

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

/** The insert of a client's row; unexecuted, to share a D1 batch. */
export function insertClientStatement(db: Db, client: Client) {
  return db.insert(clients).values(client);
}

/**
 * The insert of a client ID metadata document's client, or the update of its
 * row with a fresh copy of the document (all but its id and creation time);
 * unexecuted, to share a D1 batch. A row with an owner is never overwritten.
 */
export function upsertDocumentClientStatement(db: Db, client: Client) {
  const { id: _id, createdAt: _createdAt, ownerId: _ownerId, ...fresh } = client;
  return db
    .insert(clients)
    .values(client)
    .onConflictDoUpdate({ target: clients.id, set: fresh, setWhere: isNull(clients.ownerId) });
}

/** The delete of a client's CORS origins, before they are written anew; unexecuted, to share a D1 batch. */
export function deleteClientOriginsStatement(db: Db, clientId: string) {
  return db.delete(clientOrigins).where(eq(clientOrigins.clientId, clientId));
}

/** The insert of a client's CORS origins (at least one); unexecuted, to share a D1 batch. */
export function insertClientOriginsStatement(db: Db, clientId: string, origins: [string, ...string[]]) {
  return db.insert(clientOrigins).values(origins.map((origin) => ({ origin, clientId })));
}

/** Whether `origin` is one of the client's CORS origins (without the client: any public client's). */
export async function isClientOrigin(db: Db, origin: string, clientId?: string): Promise<boolean> {
  return (await clientOriginQuery(db, origin, clientId)).length > 0;
}

/** `isClientOrigin`'s read, unexecuted, to share a D1 batch: a row when the origin is the client's. */
export function clientOriginQuery(db: Db, origin: string, clientId?: string) {
  return db
    .select({ origin: clientOrigins.origin })
    .from(clientOrigins)
    .where(
      clientId === undefined
        ? eq(clientOrigins.origin, origin)
        : and(eq(clientOrigins.origin, origin), eq(clientOrigins.clientId, clientId)),
    )
    .limit(1);
}

export async function findClient(db: Db, id: string): Promise<Client | undefined> {
  return (await clientQuery(db, id))[0];
}

// Every client authentication reads this: prepared once (see prepared.ts).
// A client an admin disabled is no client at all here (the admin console reads it its own way).
const clientById = preparedOnce((db) =>
  db
    .select()
    .from(clients)
    .where(and(eq(clients.id, sql.placeholder('id')), notDisabled))
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
 * Deletes one of the owner's clients. Foreign keys cascade to its origins and
 * grants, and through the grants to its codes and refresh tokens, so
 * everything issued to it ends with it. Returns false when the owner has no
 * such client.
 */
export async function deleteClientOfOwner(db: Db, ownerId: string, id: string): Promise<boolean> {
  const deleted = await db
    .delete(clients)
    .where(and(eq(clients.id, id), eq(clients.ownerId, ownerId)))
    .returning({ id: clients.id });
  return deleted.length > 0;
}

/**
 * Deletes the clients nobody owns (open registration, client ID metadata
 * documents) created before `before` with no grant made, widened or used
 * since (grants.updated_at, grants.last_used_at). Foreign keys cascade as in
 * `deleteClientOfOwner`. A client an admin disabled stays: its row holds the
 * disabled mark, and a client ID metadata document client without either
 * would be fetched and stored afresh, enabled, on its next use. Returns how many went.
 */
export async function deleteIdleUnownedClients(db: Db, before: number): Promise<number> {
  const recentGrant = db
    .select({ one: sql`1` })
    .from(grants)
    .where(and(eq(grants.clientId, clients.id), sql`max(${grants.updatedAt}, coalesce(${grants.lastUsedAt}, 0)) >= ${before}`));
  const deleted = await db
    .delete(clients)
    .where(and(isNull(clients.ownerId), lt(clients.createdAt, before), sql`not exists ${recentGrant}`, notDisabled))
    .returning({ id: clients.id });
  return deleted.length;
}

/**
 * What a client presented at the token endpoint, for a grant's batch to
 * authenticate it in SQL (middleware/client-auth.ts `pendingClient`): the
 * batch reads the client's row first (`guardedClientQuery`), and each of its
 * writing statements acts only where `clientAuthenticates()` holds, so a
 * request whose client fails to authenticate changes nothing. The rules are
 * `checkClient`'s (client-auth.ts), which checks the row again in TypeScript
 * after the batch; the SQL ones are never looser.
 */
export interface ClientGuard {
  guardClientId: string;
  guardMethod: Client['tokenEndpointAuthMethod'];
  /** SHA-256 of the presented secret; '' when none was presented (for `none`, where no secret is compared). */
  guardSecretHash: string;
  /** The grant type the request uses: the client must be registered for it (RFC 6749 §5.2 unauthorized_client). */
  guardGrantType: GrantType;
  /**
   * Null, or the instant a client ID metadata document client's row must be
   * fresh after (its metadata_expires_at): a stale row authenticates nothing
   * until the document is fetched again.
   */
  guardFreshAfter: number | null;
}

/**
 * The rules, over the `clients` row in scope: the method it registered,
 * its secret's hash unless it is public or `private_key_jwt` (whose
 * assertion middleware/client-auth.ts `pendingClient` verified against this
 * row's keys before building the guard, and spent), registered for the grant type, and a
 * fresh row where freshness is asked for. SQL text with the ClientGuard placeholders.
 */
/** The `clients` row in scope was not disabled by an admin (the admin console): a primary-key probe. */
const notDisabled = sql`not exists (select 1 from disabled_clients where disabled_clients.client_id = clients.id)`;

const authenticatesRow = sql`${notDisabled}
  and clients.token_endpoint_auth_method = ${sql.placeholder('guardMethod')}
  and (clients.token_endpoint_auth_method in ('none', 'private_key_jwt') or clients.secret_hash = ${sql.placeholder('guardSecretHash')})
  and exists (select 1 from json_each(clients.grant_types) where json_each.value = ${sql.placeholder('guardGrantType')})
  and (${sql.placeholder('guardFreshAfter')} is null or clients.metadata_expires_at > ${sql.placeholder('guardFreshAfter')})`;

/** A condition for a writing statement of a grant's batch: the presented client authenticates (ClientGuard). */
export function clientAuthenticates() {
  return sql`exists (select 1 from clients where clients.id = ${sql.placeholder('guardClientId')} and ${authenticatesRow})`;
}

/**
 * A condition: the client `clientId` names (a column of the row being
 * written) is registered for the refresh_token grant, so a grant's batch
 * mints a refresh token only for a client that may have one.
 */
export function clientMayRefresh(clientId: SQLiteColumn) {
  return sql`exists (select 1 from clients, json_each(clients.grant_types) where clients.id = ${clientId} and json_each.value = 'refresh_token')`;
}

// The first statement of every token request's batch: prepared once (see prepared.ts).
const guardedClient = preparedOnce((db) =>
  db
    .select({ client: clients, authenticated: sql<number>`(${authenticatesRow})` })
    .from(clients)
    .where(and(eq(clients.id, sql.placeholder('guardClientId')), notDisabled))
    .limit(1)
    .prepare(),
);

/**
 * The presented client's row, with whether the batch's guard held for it
 * (`authenticated` 1 or 0): the same SQL the writes are guarded by, so the
 * service knows whether they acted. Unexecuted, to open a grant's batch.
 */
export function guardedClientQuery(db: Db, guard: ClientGuard) {
  return bind(guardedClient(db), { ...guard });
}

// RFC 7592 client configuration endpoint. Rarely run: plain builders.

/**
 * The client whose id is `id` and whose registration access token hashes to
 * `tokenHash` (RFC 7592 §2), or none: an unknown client and a wrong token
 * look the same, so nobody learns which client ids exist.
 */
export async function findClientByRegistrationToken(db: Db, id: string, tokenHash: string): Promise<Client | undefined> {
  const rows = await db
    .select()
    .from(clients)
    .where(and(eq(clients.id, id), eq(clients.registrationTokenHash, tokenHash)))
    .limit(1);
  return rows[0];
}

/**
 * The update of a registered client's metadata (RFC 7592 §2.2: everything
 * but its id, owner, creation time and registration access token), only
 * while the token that authorized it is still the client's; unexecuted, to
 * share a D1 batch. Answers the id when a row changed.
 */
export function updateRegisteredClientStatement(db: Db, client: Client, tokenHash: string) {
  const { id, ownerId: _ownerId, createdAt: _createdAt, registrationTokenHash: _hash, ...metadata } = client;
  return db
    .update(clients)
    .set(metadata)
    .where(and(eq(clients.id, id), eq(clients.registrationTokenHash, tokenHash)))
    .returning({ id: clients.id });
}

/**
 * The delete of a client's codes not yet redeemed whose redirect URI is not
 * in `keep` (all of them when `keep` is empty); unexecuted, to share a D1
 * batch. A redeemed code stays, so its replay is still caught.
 */
export function deletePendingCodesStatement(db: Db, clientId: string, keep: readonly string[]) {
  return db
    .delete(codes)
    .where(
      and(eq(codes.clientId, clientId), isNull(codes.redeemedAt), ...(keep.length > 0 ? [notInArray(codes.redirectUri, [...keep])] : [])),
    );
}

/** The delete of a client's own client_credentials grant (no user), and so of its tokens; unexecuted, to share a D1 batch. */
export function deleteClientCredentialsGrantStatement(db: Db, clientId: string) {
  return db.delete(grants).where(and(eq(grants.clientId, clientId), isNull(grants.userId)));
}

/**
 * Deletes a client through its configuration endpoint (RFC 7592 §2.3), only
 * with its registration access token. Foreign keys cascade as in
 * `deleteClientOfOwner`. Answers the deleted client's owner, or undefined
 * when there was no such client with that token.
 */
export async function deleteClientByRegistrationToken(
  db: Db,
  id: string,
  tokenHash: string,
): Promise<{ ownerId: string | null } | undefined> {
  const deleted = await db
    .delete(clients)
    .where(and(eq(clients.id, id), eq(clients.registrationTokenHash, tokenHash)))
    .returning({ ownerId: clients.ownerId });
  return deleted[0];
}

// The developer section of /account: a signed-in user manages the clients
// they own. Rarely run: plain builders, each guarded by the owner in SQL.

/** One of the owner's clients, or none (another's client and an unknown id look the same). */
export async function findClientOfOwner(db: Db, ownerId: string, id: string): Promise<Client | undefined> {
  const rows = await db
    .select()
    .from(clients)
    .where(and(eq(clients.id, id), eq(clients.ownerId, ownerId)))
    .limit(1);
  return rows[0];
}

/**
 * The update of an owned client's metadata (everything but its id, owner,
 * creation time and registration access token), only while `ownerId` still
 * owns it; unexecuted, to share a D1 batch. Answers the id when a row changed.
 */
export function updateOwnedClientStatement(db: Db, client: Client, ownerId: string) {
  const { id, ownerId: _ownerId, createdAt: _createdAt, registrationTokenHash: _hash, ...metadata } = client;
  return db
    .update(clients)
    .set(metadata)
    .where(and(eq(clients.id, id), eq(clients.ownerId, ownerId)))
    .returning({ id: clients.id });
}

/**
 * The replacement of the secret hash of one of the owner's confidential
 * clients (one that has a secret); unexecuted. Answers its id and name when
 * a row changed. The old secret stops authenticating with this write, since client
 * authentication compares the stored hash.
 */
export function replaceClientSecretStatement(db: Db, ownerId: string, id: string, secretHash: string) {
  return db
    .update(clients)
    .set({ secretHash })
    .where(and(eq(clients.id, id), eq(clients.ownerId, ownerId), isNotNull(clients.secretHash)))
    .returning({ id: clients.id, name: clients.name });
}

// private_key_jwt (services/client-keys.ts). Rarely run: a fetch precedes it.

/**
 * Keeps the keys just fetched from a client's `jwks_uri`, only while the row
 * still names that URI (an update meanwhile wins). Runs at once: one D1 write.
 */
export async function saveJwksUriCache(db: Db, clientId: string, jwksUri: string, cache: CachedJwks): Promise<void> {
  await db
    .update(clients)
    .set({ jwksUriCache: cache })
    .where(and(eq(clients.id, clientId), eq(clients.jwksUri, jwksUri)));
}
