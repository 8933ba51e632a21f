import { type AnyColumn, and, eq, exists, gt, isNotNull, isNull, lt, ne, notExists, sql } from 'drizzle-orm';
import type { Db } from './db';
import { pendingSignIns, recoveryCodes, sessions, totpCredentials, users } from './schema';

// Two-factor sign-in (TOTP, RFC 6238, and recovery codes): statements and
// reads only. services/totp.ts decides what shares a D1 batch and why; no
// statement here writes the audit trail.

/** A user's TOTP credential (confirmed or not), or no rows. Unexecuted. */
export function totpCredentialQuery(db: Db, userId: string) {
  return db.select().from(totpCredentials).where(eq(totpCredentials.userId, userId)).limit(1);
}

/** A confirmed credential of `userId` exists (SQL condition, for guards). */
function confirmedCredentialOf(db: Db, userId: string | AnyColumn) {
  return db
    .select({ one: sql`1` })
    .from(totpCredentials)
    .where(and(eq(totpCredentials.userId, userId), isNotNull(totpCredentials.confirmedAt)));
}

/**
 * Whether two-factor is on for the user whose id is the column `userId` of a
 * query's row, as a boolean column: for a read that wants it with the user
 * (storage/user-identities.ts findLinkedUser) at no round trip of its own.
 */
export function twoFactorOnColumn(db: Db, userId: AnyColumn) {
  return exists(confirmedCredentialOf(db, userId)).mapWith(Boolean);
}

/** Whether two-factor is on for the user: a confirmed credential. Unexecuted (one row or none). */
export function twoFactorQuery(db: Db, userId: string) {
  return db
    .select({ userId: totpCredentials.userId })
    .from(totpCredentials)
    .where(and(eq(totpCredentials.userId, userId), isNotNull(totpCredentials.confirmedAt)))
    .limit(1);
}

export interface SetupInput {
  userId: string;
  /** The secret's stored form (services/key-encryption.ts sealText). */
  secret: string;
  /** SHA-256 of each recovery code. */
  recoveryCodeHashes: string[];
  time: number;
}

/**
 * A new, unconfirmed setup: the user's recovery codes replaced by the new
 * ones and the credential made (or an unconfirmed one replaced). Every
 * statement acts only while the user has no confirmed credential, so a setup
 * started while two-factor is on changes nothing. Unexecuted, for one batch;
 * the last answers the credential's row, or none when two-factor was on.
 */
export function setupStatements(db: Db, input: SetupInput) {
  const { userId, time } = input;
  const notOn = notExists(confirmedCredentialOf(db, userId));
  return [
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), notOn)),
    ...input.recoveryCodeHashes.map((codeHash) =>
      db.insert(recoveryCodes).select(
        db
          .select({
            userId: users.id,
            codeHash: sql<string>`${codeHash}`.as('code_hash'),
            usedAt: sql<null>`null`.as('used_at'),
            createdAt: sql<number>`${time}`.as('created_at'),
          })
          .from(users)
          .where(and(eq(users.id, userId), notOn)),
      ),
    ),
    db
      .insert(totpCredentials)
      .values({ userId, secret: input.secret, confirmedAt: null, lastUsedStep: 0, createdAt: time })
      .onConflictDoUpdate({
        target: totpCredentials.userId,
        set: { secret: input.secret, lastUsedStep: 0, createdAt: time },
        setWhere: isNull(totpCredentials.confirmedAt),
      })
      .returning({ userId: totpCredentials.userId }),
  ] as const;
}

/**
 * Accepts a TOTP code's time step once (RFC 6238 §5.2): sets
 * `last_used_step` only if the step is greater than the last one accepted,
 * and, with `confirm`, confirms an unconfirmed credential; otherwise only a
 * confirmed one is used. An UPDATE ... RETURNING: one row when accepted, none
 * when the step was used already (a replay) or the credential is not there.
 */
export function useStepStatement(db: Db, input: { userId: string; step: number; time: number; confirm: boolean }) {
  return db
    .update(totpCredentials)
    .set(input.confirm ? { lastUsedStep: input.step, confirmedAt: input.time } : { lastUsedStep: input.step })
    .where(
      and(
        eq(totpCredentials.userId, input.userId),
        lt(totpCredentials.lastUsedStep, input.step),
        input.confirm ? isNull(totpCredentials.confirmedAt) : isNotNull(totpCredentials.confirmedAt),
      ),
    )
    .returning({ userId: totpCredentials.userId });
}

/**
 * Spends a recovery code of a user with two-factor on, once: an UPDATE ...
 * RETURNING that answers its row only if it was unused.
 */
export function useRecoveryCodeStatement(db: Db, input: { userId: string; codeHash: string; time: number }) {
  return db
    .update(recoveryCodes)
    .set({ usedAt: input.time })
    .where(
      and(
        eq(recoveryCodes.userId, input.userId),
        eq(recoveryCodes.codeHash, input.codeHash),
        isNull(recoveryCodes.usedAt),
        exists(confirmedCredentialOf(db, input.userId)),
      ),
    )
    .returning({ userId: recoveryCodes.userId });
}

/** How a second factor was proved: the TOTP step, or the recovery code (its hash), to spend once. */
export type SecondFactorProof = { kind: 'totp'; step: number } | { kind: 'recovery'; codeHash: string };

/**
 * Turns two-factor off: the credential, then the recovery codes. The caller
 * runs them only once a fresh code was spent. The credential's delete answers
 * its row (none: it was off already).
 */
export function disableStatements(db: Db, userId: string) {
  return [
    db.delete(totpCredentials).where(eq(totpCredentials.userId, userId)).returning({ userId: totpCredentials.userId }),
    db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)),
  ] as const;
}

/**
 * Ends the user's browser sessions but `keepIdHash` (the one that changed
 * two-factor), for the change's own batch. With `whileOn`, only while the user
 * has a confirmed credential: the confirm's batch runs it whether or not its
 * UPDATE matched, and sessions end only when two-factor did go on. Unexecuted.
 */
export function endOtherSessionsStatement(db: Db, input: { userId: string; keepIdHash: string; whileOn: boolean }) {
  const { userId, keepIdHash } = input;
  const mine = and(eq(sessions.userId, userId), ne(sessions.idHash, keepIdHash));
  return db.delete(sessions).where(input.whileOn ? and(mine, exists(confirmedCredentialOf(db, userId))) : mine);
}

/** How many of the user's recovery codes are unused. Unexecuted. */
export function unusedRecoveryCodesQuery(db: Db, userId: string) {
  return db
    .select({ count: sql<number>`count(*)` })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
}

export interface PendingSignInInput {
  idHash: string;
  userId: string;
  returnTo: string;
  amr: string[];
  time: number;
  expiresAt: number;
}

/** Keeps a sign-in waiting for its second factor. Unexecuted. */
export function insertPendingSignInStatement(db: Db, input: PendingSignInInput) {
  const { time, ...row } = input;
  return db.insert(pendingSignIns).values({ ...row, createdAt: time });
}

/**
 * A live pending sign-in by its cookie's hash, with its user and the user's
 * confirmed credential (none: two-factor was turned off meanwhile, or the
 * sign-in expired or was completed). Unexecuted.
 */
export function pendingSignInQuery(db: Db, idHash: string, time: number) {
  return db
    .select({ pending: pendingSignIns, user: users, credential: totpCredentials })
    .from(pendingSignIns)
    .innerJoin(users, eq(users.id, pendingSignIns.userId))
    .innerJoin(totpCredentials, and(eq(totpCredentials.userId, pendingSignIns.userId), isNotNull(totpCredentials.confirmedAt)))
    .where(and(eq(pendingSignIns.idHash, idHash), gt(pendingSignIns.expiresAt, time)))
    .limit(1);
}

/**
 * Completes a pending sign-in: deletes it (single use) if it is live and
 * this user's. The caller runs it only once the code was spent, so a wrong
 * code leaves it for the next try. Answers the row, or none.
 */
export function consumePendingSignInStatement(db: Db, input: { idHash: string; userId: string; time: number }) {
  return db
    .delete(pendingSignIns)
    .where(and(eq(pendingSignIns.idHash, input.idHash), eq(pendingSignIns.userId, input.userId), gt(pendingSignIns.expiresAt, input.time)))
    .returning();
}

/** Drops a pending sign-in (the browser started again). Unexecuted. */
export function deletePendingSignInStatement(db: Db, idHash: string) {
  return db.delete(pendingSignIns).where(eq(pendingSignIns.idHash, idHash));
}

/** Deletes pending sign-ins that expired before `before` (the daily prune). */
export function prunePendingSignInsStatement(db: Db, before: number) {
  return db.delete(pendingSignIns).where(lt(pendingSignIns.expiresAt, before));
}
