import { and, desc, eq, isNotNull, notExists, type Placeholder, sql } from 'drizzle-orm';
import { now } from '../lib/crypto';
import type { Db } from './db';
import { type Bound, bind, preparedOnce } from './prepared';
import { clients, disabledClients, grants, revokedTokens, sessions, users } from './schema';

export async function findGrant(db: Db, userId: string, clientId: string) {
  return db.query.grants.findFirst({ where: and(eq(grants.userId, userId), eq(grants.clientId, clientId)) });
}

/** The grant of the session's user for a client, unexecuted, to share a batch with the session lookup. */
export function grantOfSessionQuery(db: Db, sessionIdHash: string, clientId: string) {
  return bind(grantOfSession(db), { sessionIdHash, clientId });
}

// Every authorization request runs this: prepared once (see prepared.ts).
const grantOfSession = preparedOnce((db) =>
  db
    .select()
    .from(grants)
    .where(
      and(
        eq(grants.clientId, sql.placeholder('clientId')),
        eq(grants.userId, sql`(select ${sessions.userId} from ${sessions} where ${sessions.idHash} = ${sql.placeholder('sessionIdHash')})`),
      ),
    )
    .limit(1)
    .prepare(),
);

/**
 * The statement that records a user's approval of `scope` for a client: a new
 * grant, or the existing one widened to `scope` (the caller passes the union).
 * Returned unexecuted so it can share a D1 batch with the code it authorizes.
 */
export function upsertGrantStatement(db: Db, userId: string, clientId: string, scope: string) {
  return bind(upsertGrant(db), { id: crypto.randomUUID(), userId, clientId, scope, time: now() });
}

// Every code issued runs this: prepared once (see prepared.ts).
const upsertGrant = preparedOnce((db) =>
  db
    .insert(grants)
    .values({
      id: sql.placeholder('id'),
      userId: sql.placeholder('userId'),
      clientId: sql.placeholder('clientId'),
      scope: sql.placeholder('scope'),
      createdAt: sql.placeholder('time'),
      updatedAt: sql.placeholder('time'),
    })
    .onConflictDoUpdate({
      target: [grants.userId, grants.clientId],
      set: { scope: sql`${sql.placeholder('scope')}`, updatedAt: sql`${sql.placeholder('time')}` },
    })
    .prepare(),
);

/** The id of the (user, client) grant, as a subquery for statements in the same batch (values or placeholders). */
export function grantIdSubquery(userId: string | Placeholder, clientId: string | Placeholder) {
  return sql`(select ${grants.id} from ${grants} where ${grants.userId} = ${userId} and ${grants.clientId} = ${clientId})`;
}

/** The id of a client's own grant, under which its client_credentials tokens are issued. */
export function clientCredentialsGrantId(clientId: string): string {
  // isClientCredentialsGrant recognises this prefix.
  return `cc:${clientId}`;
}

/** Creates a client's own grant (no user); made once, when it registers for client_credentials. */
export function clientCredentialsGrantStatement(db: Db, clientId: string) {
  const time = now();
  return db
    .insert(grants)
    .values({ id: clientCredentialsGrantId(clientId), userId: null, clientId, scope: '', createdAt: time, updatedAt: time })
    .onConflictDoNothing();
}

/**
 * A grant as the bearer check reads it: whose it is and what it holds, so the
 * caller can require a token's claims to be within it (services/tokens.ts
 * `tokenStandsOn`).
 */
export interface LiveGrant {
  /** Null for a client's own client_credentials grant. */
  userId: string | null;
  clientId: string;
  /** Every scope the user approved (space-delimited); '' for a client_credentials grant. */
  scope: string;
  /** The client's registered scope (null: any supported scope), which bounds its client_credentials tokens. */
  clientScope: string | null;
}

/**
 * An access token stands: its grant exists, its jti was not revoked, its
 * user (if any) is not disabled and its client is not disabled by an admin
 * (placeholders `grantId`, `jti`). The two admin conditions are primary-key
 * probes in the same statement: no round trip more for any bearer call.
 */
function tokenStands(db: Db) {
  return and(
    eq(grants.id, sql.placeholder('grantId')),
    notExists(
      db
        .select({ one: sql`1` })
        .from(revokedTokens)
        .where(eq(revokedTokens.jti, sql.placeholder('jti'))),
    ),
    notExists(
      db
        .select({ one: sql`1` })
        .from(users)
        .where(and(eq(users.id, grants.userId), isNotNull(users.disabledAt))),
    ),
    notExists(db.select({ one: sql`1` }).from(disabledClients).where(eq(disabledClients.clientId, grants.clientId))),
  );
}

// What a bearer check reads of the grant: the grant's own columns, and its
// client's registered scope (a primary-key join, in the same statement). The
// client's scope is aliased: in a D1 batch Drizzle maps rows by column name,
// and two columns both named `scope` would collapse into one.
const liveGrantColumns = {
  userId: grants.userId,
  clientId: grants.clientId,
  scope: grants.scope,
  clientScope: sql<string | null>`${clients.scope}`.as('client_scope'),
};

// Every bearer call runs this: prepared once (see prepared.ts).
const liveGrantStatement = preparedOnce((db) =>
  db.select(liveGrantColumns).from(grants).innerJoin(clients, eq(clients.id, grants.clientId)).where(tokenStands(db)).limit(1).prepare(),
);

/**
 * An access token's grant, in one query, when the grant exists (revoking a
 * grant deletes it, ending every token it backs) and the token's own jti was
 * not revoked; no rows otherwise. Unexecuted, to share a D1 batch with a
 * read. Whether the token's claims are within the grant is the caller's
 * check (`tokenStandsOn`).
 */
export function liveGrantQuery(db: Db, grantId: string, jti: string): Bound<LiveGrant[]> {
  return bind(liveGrantStatement(db), { grantId, jti });
}

// Introspection's view of an access token: the same check as liveGrantQuery, with
// the user's email for RFC 7662 §2.2 `username` (none for client_credentials).
const liveGrantWithEmail = preparedOnce((db) =>
  db
    .select({ ...liveGrantColumns, email: users.email })
    .from(grants)
    .innerJoin(clients, eq(clients.id, grants.clientId))
    .leftJoin(users, eq(users.id, grants.userId))
    .where(tokenStands(db))
    .limit(1)
    .prepare(),
);

/** Like `liveGrantQuery`, with the user's email; unexecuted, for introspection's batch. */
export function liveGrantWithEmailQuery(db: Db, grantId: string, jti: string) {
  return bind(liveGrantWithEmail(db), { grantId, jti });
}

/** Whether a grant id is a client's own client_credentials grant (no user). */
export function isClientCredentialsGrant(grantId: string): boolean {
  return grantId.startsWith('cc:');
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
      lastUsedAt: grants.lastUsedAt,
    })
    .from(grants)
    .innerJoin(clients, eq(clients.id, grants.clientId))
    .where(and(eq(grants.userId, userId), isNotNull(grants.userId)))
    .orderBy(desc(grants.updatedAt));
}

/**
 * Deletes a grant. Foreign keys cascade to its codes and refresh tokens, and
 * the bearer check requires the grant, so every token it backs ends with it.
 * Unexecuted, to share a D1 batch (with the audit event that records why).
 */
export function deleteGrantStatement(db: Db, grantId: string) {
  return db.delete(grants).where(eq(grants.id, grantId));
}

/**
 * Deletes one of the user's grants (see `deleteGrantStatement` for what goes
 * with it). Returns its client, or undefined when the user has no such grant.
 */
export async function deleteGrantOfUser(db: Db, userId: string, grantId: string): Promise<{ clientId: string } | undefined> {
  const deleted = await db
    .delete(grants)
    .where(and(eq(grants.id, grantId), eq(grants.userId, userId)))
    .returning({ clientId: grants.clientId });
  return deleted[0];
}
