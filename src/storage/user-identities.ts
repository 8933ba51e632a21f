import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './db';
import { passkeys, type User, type UserIdentity, upstreamRequestsUsed, userIdentities, users } from './schema';
import { twoFactorOnColumn } from './totp';

// Accounts at upstream identity providers linked to Tollgate users, and the
// ids of pending upstream requests already used. Statements and reads only:
// services/upstream-sign-in.ts decides when to link, create or refuse.

/**
 * The user a provider's subject is linked to, with the link and whether the
 * user has two-factor on (a confirmed TOTP credential): read in the same
 * query, so asking for the code after an upstream sign-in costs no round trip.
 */
export async function findLinkedUser(
  db: Db,
  providerId: string,
  subject: string,
): Promise<{ user: User; identity: UserIdentity; twoFactor: boolean } | null> {
  const rows = await db
    .select({ user: users, identity: userIdentities, twoFactor: twoFactorOnColumn(db, users.id) })
    .from(userIdentities)
    .innerJoin(users, eq(users.id, userIdentities.userId))
    .where(and(eq(userIdentities.providerId, providerId), eq(userIdentities.subject, subject)))
    .limit(1);
  return rows[0] ?? null;
}

/** A user's linked provider accounts, oldest link first. */
export function listIdentitiesOfUser(db: Db, userId: string): Promise<UserIdentity[]> {
  return db.select().from(userIdentities).where(eq(userIdentities.userId, userId)).orderBy(userIdentities.linkedAt);
}

/** The link insert, unexecuted (a new user's batch). Fails on the (provider, subject) key when that account is linked already. */
export function insertIdentityStatement(db: Db, identity: UserIdentity) {
  return db.insert(userIdentities).values(identity);
}

/** The user insert, unexecuted (a first upstream sign-in inserts the user and its link in one batch). */
export function insertUserStatement(db: Db, user: User) {
  return db.insert(users).values(user);
}

/** Inserts a link; false when that provider account is linked already (to anyone). */
export async function linkIdentity(db: Db, identity: UserIdentity): Promise<boolean> {
  const rows = await db.insert(userIdentities).values(identity).onConflictDoNothing().returning({ subject: userIdentities.subject });
  return rows.length === 1;
}

/**
 * Deletes one of a user's links, only while the user keeps another way to
 * sign in: another link, a password (a hash that is not `noPasswordPrefix`'s)
 * or a passkey. Decided in the DELETE itself, so two unlinks racing cannot
 * both pass. False when nothing was deleted.
 */
export async function deleteIdentityOfUser(
  db: Db,
  link: { userId: string; providerId: string; subject: string },
  noPasswordPrefix: string,
): Promise<boolean> {
  const { userId, providerId, subject } = link;
  const anotherWayIn = sql`(
    EXISTS (SELECT 1 FROM ${userIdentities} AS other WHERE other.user_id = ${userId} AND NOT (other.provider_id = ${providerId} AND other.subject = ${subject}))
    OR EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${userId} AND substr(${users.passwordHash}, 1, ${noPasswordPrefix.length}) <> ${noPasswordPrefix})
    OR EXISTS (SELECT 1 FROM ${passkeys} WHERE ${passkeys.userId} = ${userId})
  )`;
  const rows = await db
    .delete(userIdentities)
    .where(
      and(eq(userIdentities.userId, userId), eq(userIdentities.providerId, providerId), eq(userIdentities.subject, subject), anotherWayIn),
    )
    .returning({ subject: userIdentities.subject });
  return rows.length === 1;
}

/**
 * Records pending request `id` as used, atomically: true the first time,
 * false ever after (the primary key decides, so two racing callbacks cannot
 * both pass). The row lives until the request would have expired anyway.
 */
export async function markUpstreamRequestUsed(db: Db, id: string, expiresAt: number): Promise<boolean> {
  const rows = await db
    .insert(upstreamRequestsUsed)
    .values({ id, expiresAt })
    .onConflictDoNothing()
    .returning({ id: upstreamRequestsUsed.id });
  return rows.length === 1;
}

/**
 * The delete of used-request rows that expired before `before`, unexecuted:
 * it joins the Cron Trigger's batch (storage/retention.ts). Past its expiry a
 * pending request fails its own `exp` check, so its used row no longer guards
 * anything.
 */
export function pruneUpstreamRequestsUsedStatement(db: Db, before: number) {
  return db.delete(upstreamRequestsUsed).where(lt(upstreamRequestsUsed.expiresAt, before));
}
