import { ADMIN_PAGE_SIZE } from '../config';
import type { Deps } from '../deps';
import { now } from '../lib/crypto';
import { auditIfChangedStatement } from '../storage/admin-audit';
import {
  type AdminUserRow,
  apiTokenCount,
  disabledAt,
  disableUserStatement,
  enableUserStatement,
  endIssuedCredentialsStatements,
  findAdminUser,
  passwordResetRequired,
  requirePasswordResetStatement,
  searchUsers,
  sessionsOfUser,
  setRoleStatement,
  signOutEverywhereStatements,
  userExists,
} from '../storage/admin-users';
import { auditStatement, recentActivity } from '../storage/audit';
import { listGrantsOfUser } from '../storage/grants';
import { adminUserSections, twoFactorSection } from './admin-user-sections';

/** What an admin action came to: done, refused for the last admin, nothing to do, or no such user. */
export type AdminActionResult = 'done' | 'last_admin' | 'unchanged' | 'not_found';

/** Who acts, for the audit trail: the admin, and where from. */
export interface Actor {
  id: string;
  ip: string | null;
}

/** A page of a list: its rows, and whether another page follows. */
export interface Page<T> {
  rows: T[];
  page: number;
  hasNext: boolean;
}

/** Reads one page (1-based) of `ADMIN_PAGE_SIZE` through `read(offset, limit)`, asking one row more to know whether a next page exists. */
export async function readPage<T>(page: number, read: (offset: number, limit: number) => Promise<T[]>): Promise<Page<T>> {
  const rows = await read((page - 1) * ADMIN_PAGE_SIZE, ADMIN_PAGE_SIZE + 1);
  return { rows: rows.slice(0, ADMIN_PAGE_SIZE), page, hasNext: rows.length > ADMIN_PAGE_SIZE };
}

export function findUsers({ db }: Deps, search: string | undefined, page: number): Promise<Page<AdminUserRow>> {
  return readPage(page, (offset, limit) => searchUsers(db, search, offset, limit));
}

/** Everything the user's admin page shows; undefined for no such user. */
export async function userOverview(deps: Deps, userId: string) {
  const { db } = deps;
  const user = await findAdminUser(db, userId);
  if (!user) return undefined;
  const time = now();
  const [apps, sessions, apiTokens, activity, resetRequired, read] = await Promise.all([
    listGrantsOfUser(db, userId),
    sessionsOfUser(db, userId, time),
    apiTokenCount(db, userId, time),
    recentActivity(db, userId, 20),
    passwordResetRequired(db, userId),
    Promise.all(adminUserSections.map(async (section) => ({ section, ...(await section.read(deps, userId)) }))),
  ]);
  // "Reset two-factor" is offered only when there is a credential (or a setup begun) to delete.
  const canResetTwoFactor = read.some(({ section, resettable }) => section === twoFactorSection && resettable === true);
  const sections = read.map(({ section, items }) => ({ id: section.id, title: section.title, items }));
  return { user, apps, sessions, apiTokens, activity, resetRequired, sections, canResetTwoFactor };
}

/** Why an action that changed nothing changed nothing. */
async function explain(deps: Deps, userId: string, refusedForLastAdmin: boolean): Promise<AdminActionResult> {
  if (!(await userExists(deps.db, userId))) return 'not_found';
  return refusedForLastAdmin ? 'last_admin' : 'unchanged';
}

/**
 * Disables a user, in one D1 batch: the flag (refused in SQL for the last
 * enabled admin), their sessions and user API tokens, what their apps could
 * still turn into tokens (refresh tokens, unredeemed codes and device
 * authorizations), and the audit event. Every statement after the first acts
 * only if the first did, so a refused disable changes nothing. Their access
 * tokens stop at the bearer check (storage/grants.ts), sign-in refuses them
 * (services/sign-in.ts), and their grants stay for when they are enabled again.
 */
export async function disableUser(deps: Deps, actor: Actor, userId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const when = disabledAt(userId, time);
  const [disabled] = await db.batch([
    disableUserStatement(db, userId, time),
    auditIfChangedStatement(db, { type: 'user_disabled', userId, actorId: actor.id, ip: actor.ip }, time),
    ...signOutEverywhereStatements(db, userId, when),
    ...endIssuedCredentialsStatements(db, userId, when),
  ]);
  if (disabled.length > 0) return 'done';
  const user = await findAdminUser(db, userId);
  if (!user) return 'not_found';
  return user.disabledAt !== null ? 'unchanged' : 'last_admin';
}

/** Enables a disabled user (and audits it), in one batch. They sign in again; their old sessions and tokens stay ended. */
export async function enableUser(deps: Deps, actor: Actor, userId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const [enabled] = await db.batch([
    enableUserStatement(db, userId),
    auditIfChangedStatement(db, { type: 'user_enabled', userId, actorId: actor.id, ip: actor.ip }, time),
  ]);
  return enabled.length > 0 ? 'done' : explain(deps, userId, false);
}

/** Ends every browser session and user API token of the user (OWASP ASVS 4.0 V3.3.4), with the audit event, in one batch. */
export async function signOutUserEverywhere(deps: Deps, actor: Actor, userId: string): Promise<AdminActionResult> {
  const { db } = deps;
  if (!(await userExists(db, userId))) return 'not_found';
  await db.batch([
    ...signOutEverywhereStatements(db, userId),
    auditStatement(db, { type: 'user_signed_out', userId, actorId: actor.id, ip: actor.ip }),
  ]);
  return 'done';
}

/**
 * Asks the user to set a new password: until they do, their password signs
 * them in no more (services/sign-in.ts), and they are signed out everywhere
 * now, in the same batch, since an admin asks this when the password may be
 * known to someone else.
 */
export async function requirePasswordReset(deps: Deps, actor: Actor, userId: string): Promise<AdminActionResult> {
  const { db } = deps;
  if (!(await userExists(db, userId))) return 'not_found';
  const time = now();
  const [required] = await db.batch([
    requirePasswordResetStatement(db, userId, time, actor.id),
    auditIfChangedStatement(db, { type: 'password_reset_required', userId, actorId: actor.id, ip: actor.ip }, time),
    ...signOutEverywhereStatements(db, userId),
  ]);
  return required.length > 0 ? 'done' : 'unchanged';
}

/**
 * Turns the user's two-factor sign-in off (when the server has two-factor:
 * admin-user-sections.ts): the credential and the recovery codes go, with the
 * audit event naming the admin, in one batch; the event only when there was a
 * credential to delete, so resetting twice is 'unchanged' and audits once.
 * A pending sign-in waiting for a code finds no credential and ends
 * (storage/totp.ts pendingSignInQuery); the next sign-in asks for no code.
 *
 * The user's sessions are left alone, as Keycloak's "remove OTP" does: an
 * admin resets two-factor for someone who lost their authenticator, often
 * still signed in elsewhere, and the reset makes no existing session any
 * stronger or weaker (each proved the second factor when it began). When the
 * account may be in someone else's hands, the admin has Sign out everywhere
 * and Require a password reset beside it.
 */
export async function resetTwoFactor(deps: Deps, actor: Actor, userId: string): Promise<AdminActionResult> {
  const { db } = deps;
  const reset = twoFactorSection?.reset;
  if (!reset || !(await userExists(db, userId))) return 'not_found';
  const time = now();
  const [removeCredential, ...rest] = reset(db, userId);
  const [removed] = await db.batch([
    removeCredential,
    // changes() of the credential's delete, the statement just before.
    auditIfChangedStatement(db, { type: 'two_factor_reset', userId, actorId: actor.id, ip: actor.ip }, time),
    ...rest,
  ]);
  return (removed as unknown[]).length > 0 ? 'done' : 'unchanged';
}

/** Makes a user an admin or takes the role away; the last enabled admin keeps it (decided in SQL). Audited in the same batch. */
export async function setUserRole(deps: Deps, actor: Actor, userId: string, role: 'user' | 'admin'): Promise<AdminActionResult> {
  const { db } = deps;
  const time = now();
  const [changed] = await db.batch([
    setRoleStatement(db, userId, role),
    auditIfChangedStatement(
      db,
      { type: role === 'admin' ? 'admin_granted' : 'admin_revoked', userId, actorId: actor.id, ip: actor.ip },
      time,
    ),
  ]);
  if (changed.length > 0) return 'done';
  const user = await findAdminUser(db, userId);
  if (!user) return 'not_found';
  return user.role === role ? 'unchanged' : 'last_admin';
}
