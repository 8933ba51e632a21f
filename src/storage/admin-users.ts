import { and, count, desc, eq, gt, isNotNull, isNull, type like, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from './db';
import {
  codes,
  deviceAuthorizations,
  passwordResetRequirements,
  pendingSignIns,
  refreshTokens,
  sessions,
  userApiTokens,
  users,
} from './schema';

// The admin console's statements and reads about users (issue 18). Rarely
// run: plain builders. The services (services/admin-users.ts) put the
// statements of one action in one D1 batch; the SQL guards here make the
// batch act only when the action is allowed, decided inside the batch.

/** The columns an admin sees of a user: never the password hash. */
const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  createdAt: users.createdAt,
  emailVerifiedAt: users.emailVerifiedAt,
  disabledAt: users.disabledAt,
};

export type AdminUserRow = {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  createdAt: number;
  emailVerifiedAt: number | null;
  disabledAt: number | null;
};

/** A LIKE pattern that matches `text` anywhere, with LIKE's own wildcards taken literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** `column LIKE pattern ESCAPE '\'` (Drizzle's `like` has no ESCAPE). */
export function likeEscaped(column: SQL | Parameters<typeof like>[0], pattern: string): SQL {
  return sql`${column} like ${pattern} escape '\\'`;
}

/** One page of users whose email or name contains `search` (every user without one), newest first; one row more tells there is a next page. */
export async function searchUsers(db: Db, search: string | undefined, offset: number, limit: number): Promise<AdminUserRow[]> {
  const where = search
    ? or(
        likeEscaped(users.email, containsPattern(search.toLowerCase())),
        likeEscaped(sql`lower(${users.name})`, containsPattern(search.toLowerCase())),
      )
    : undefined;
  return db.select(userColumns).from(users).where(where).orderBy(desc(users.createdAt), users.id).limit(limit).offset(offset);
}

export async function findAdminUser(db: Db, id: string): Promise<AdminUserRow | undefined> {
  return (await db.select(userColumns).from(users).where(eq(users.id, id)).limit(1))[0];
}

/** A user's live browser sessions, newest first (no session id: only its hash is stored, and it is not shown). */
export async function sessionsOfUser(db: Db, userId: string, time: number) {
  return db
    .select({
      authTime: sessions.authTime,
      expiresAt: sessions.expiresAt,
      amr: sessions.amr,
      userAgent: sessions.userAgent,
      lastSeenAt: sessions.lastSeenAt,
    })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, time)))
    .orderBy(desc(sessions.authTime))
    .limit(50);
}

/** How many live user API tokens a user holds. */
export async function apiTokenCount(db: Db, userId: string, time: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(userApiTokens)
    .where(and(eq(userApiTokens.userId, userId), gt(userApiTokens.expiresAt, time)));
  return row?.n ?? 0;
}

/** Whether an admin asked the user to set a new password (their password signs them in no more until then). */
export async function passwordResetRequired(db: Db, userId: string): Promise<boolean> {
  const rows = await db
    .select({ one: sql`1` })
    .from(passwordResetRequirements)
    .where(eq(passwordResetRequirements.userId, userId))
    .limit(1);
  return rows.length > 0;
}

/**
 * SQL: removing `userId`'s admin power (disabling or demoting them) leaves
 * another enabled admin. The last admin cannot be removed: decided in the
 * same statement as the change, so two admins removing each other at once
 * cannot both succeed (D1 runs writes one at a time).
 */
function leavesAnotherAdmin(userId: string): SQL {
  return sql`(${users.role} <> 'admin' or exists (select 1 from users as other where other.role = 'admin' and other.disabled_at is null and other.id <> ${userId}))`;
}

/** Disables a user, unless disabled already or the last admin; RETURNING says whether it did. Unexecuted, to open the action's batch. */
export function disableUserStatement(db: Db, userId: string, time: number) {
  return db
    .update(users)
    .set({ disabledAt: time })
    .where(and(eq(users.id, userId), isNull(users.disabledAt), leavesAnotherAdmin(userId)))
    .returning({ id: users.id });
}

/** Enables a disabled user; RETURNING says whether it did. Unexecuted. */
export function enableUserStatement(db: Db, userId: string) {
  return db
    .update(users)
    .set({ disabledAt: null })
    .where(and(eq(users.id, userId), isNotNull(users.disabledAt)))
    .returning({ id: users.id });
}

/** Gives a user a role: demoting the last enabled admin is refused in SQL; RETURNING says whether it changed. Unexecuted. */
export function setRoleStatement(db: Db, userId: string, role: 'user' | 'admin') {
  const guard = role === 'user' ? leavesAnotherAdmin(userId) : sql`1`;
  return db
    .update(users)
    .set({ role })
    .where(and(eq(users.id, userId), sql`${users.role} <> ${role}`, guard))
    .returning({ id: users.id });
}

/** Grants the admin role by email (npm run admin, start.mjs do the same in SQL). */
export function grantAdminByEmailStatement(db: Db, email: string) {
  return db.update(users).set({ role: 'admin' }).where(eq(users.email, email)).returning({ id: users.id });
}

/**
 * SQL: the user is disabled as of `time`, i.e. this action disabled them. The
 * statements that end a disabled user's credentials act only then, so a
 * refused disable (the last admin) ends nothing.
 */
export function disabledAt(userId: string, time: number): SQL {
  return sql`exists (select 1 from users where users.id = ${userId} and users.disabled_at = ${time})`;
}

/**
 * The deletes that sign a user out everywhere: browser sessions, sign-ins
 * waiting for their two-factor code, and user API tokens (OWASP ASVS 4.0
 * V3.3.4). `when`: only where that SQL holds
 * (e.g. `disabledAt`). Unexecuted, for the action's batch.
 */
export function signOutEverywhereStatements(db: Db, userId: string, when: SQL = sql`1`) {
  return [
    db.delete(sessions).where(and(eq(sessions.userId, userId), when)),
    db.delete(pendingSignIns).where(and(eq(pendingSignIns.userId, userId), when)),
    db.delete(userApiTokens).where(and(eq(userApiTokens.userId, userId), when)),
  ] as const;
}

/**
 * What a disabled user's apps could still turn into tokens: refresh tokens,
 * unredeemed codes and approved, unredeemed device authorizations. Their
 * access tokens stop at the bearer check (storage/grants.ts `tokenStands`).
 * The grants stay, so enabling the user again keeps their consents.
 */
export function endIssuedCredentialsStatements(db: Db, userId: string, when: SQL) {
  return [
    db.delete(refreshTokens).where(and(eq(refreshTokens.userId, userId), when)),
    db.delete(codes).where(and(eq(codes.userId, userId), isNull(codes.redeemedAt), when)),
    db.delete(deviceAuthorizations).where(and(eq(deviceAuthorizations.userId, userId), isNull(deviceAuthorizations.redeemedAt), when)),
  ] as const;
}

/** Asks the user for a new password (kept until they set one). Unexecuted; RETURNING is empty when it was asked already. */
export function requirePasswordResetStatement(db: Db, userId: string, time: number, actorId: string) {
  return db
    .insert(passwordResetRequirements)
    .values({ userId, requiredAt: time, requiredBy: actorId })
    .onConflictDoNothing()
    .returning({ userId: passwordResetRequirements.userId });
}

/** Lifts the requirement: for the flow that sets a new password, in its batch. Unexecuted. */
export function clearPasswordResetStatement(db: Db, userId: string) {
  return db.delete(passwordResetRequirements).where(eq(passwordResetRequirements.userId, userId));
}

/** Whether `id` names a user (for telling "not found" from "not allowed" after a refused action). */
export async function userExists(db: Db, id: string): Promise<boolean> {
  return (await db.select({ one: sql`1` }).from(users).where(eq(users.id, id)).limit(1)).length > 0;
}

/** The number of enabled admins. */
export async function enabledAdminCount(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.role, 'admin'), isNull(users.disabledAt)));
  return row?.n ?? 0;
}
