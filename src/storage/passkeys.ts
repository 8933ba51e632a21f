import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Db } from './db';
import type { AuditEventType } from './schema';
import { auditEvents, type Passkey, passkeys, users, type WebAuthnPurpose, webauthnChallenges } from './schema';

// Statements and reads for passkeys (W3C WebAuthn) and their challenges. They
// decide nothing: services/passkeys.ts says which share a D1 batch and why.
// Rarely run (a sign-in or a change on /account), so plain builders.

/** A challenge row to keep until the ceremony ends. */
export interface NewChallenge {
  idHash: string;
  purpose: WebAuthnPurpose;
  challenge: string;
  expiresAt: number;
}

/** Keeps a challenge for `userId` (registration: the signed-in user). */
export function insertChallengeStatement(db: Db, row: NewChallenge & { userId: string | null }) {
  return db.insert(webauthnChallenges).values(row);
}

/**
 * Keeps a sign-in challenge bound to the account whose email was typed, or to
 * none when no account has it: the user id is looked up inside the INSERT, so
 * the statement shares the batch with the read of the account's credentials.
 */
export function insertChallengeForEmailStatement(db: Db, row: NewChallenge, email: string) {
  return db.insert(webauthnChallenges).values({
    ...row,
    userId: sql`(select ${users.id} from ${users} where ${users.email} = ${email})`,
  });
}

/**
 * Consumes a challenge: deletes its row and answers what it held, once. The
 * one DELETE … RETURNING is the single use (W3C WebAuthn §13.4.3): of two
 * requests that answer the same challenge, only one gets the row. An expired
 * row answers nothing (the Cron Trigger deletes it).
 */
export function consumeChallengeStatement(db: Db, idHash: string, purpose: WebAuthnPurpose, time: number) {
  return db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.idHash, idHash), eq(webauthnChallenges.purpose, purpose), gt(webauthnChallenges.expiresAt, time)))
    .returning({ userId: webauthnChallenges.userId, challenge: webauthnChallenges.challenge });
}

/** A user's passkeys, oldest first. */
export function passkeysOfUserQuery(db: Db, userId: string) {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

/**
 * The credentials of the account with this email, for allowCredentials: none
 * for an account without passkeys and for an unknown email alike.
 */
export function credentialsOfEmailQuery(db: Db, email: string) {
  return db
    .select({ credentialId: passkeys.id, transports: passkeys.transports })
    .from(passkeys)
    .innerJoin(users, eq(users.id, passkeys.userId))
    .where(eq(users.email, email))
    .orderBy(asc(passkeys.createdAt));
}

/** A credential by its id. */
export function passkeyQuery(db: Db, credentialId: string) {
  return db.select().from(passkeys).where(eq(passkeys.id, credentialId)).limit(1);
}

/**
 * The user a credential belongs to. A statement of its own rather than a join
 * with passkeys: in a D1 batch rows come back by column name, and the two
 * tables share names (`id`, `name`, `created_at`).
 */
export function userOfPasskeyQuery(db: Db, credentialId: string) {
  return db
    .select()
    .from(users)
    .where(eq(users.id, db.select({ userId: passkeys.userId }).from(passkeys).where(eq(passkeys.id, credentialId))))
    .limit(1);
}

export function insertPasskeyStatement(db: Db, row: Passkey) {
  return db.insert(passkeys).values(row);
}

/** What a sign-in writes back to its credential (W3C WebAuthn §7.2 steps 21 and 22). */
export interface PasskeyUse {
  id: string;
  /** The counter read before the ceremony: the write happens only if it still holds. */
  previousCounter: number;
  counter: number;
  backedUp: boolean;
  lastUsedAt: number;
}

/**
 * Stores a sign-in's signature counter and backup state, only if the counter
 * is still the one the ceremony was checked against (compare and swap): of
 * two sign-ins with one counter value, one writes and the other finds
 * nothing. Answers the row's id when it wrote.
 */
export function recordPasskeyUseStatement(db: Db, use: PasskeyUse) {
  return db
    .update(passkeys)
    .set({ counter: use.counter, backedUp: use.backedUp, lastUsedAt: use.lastUsedAt })
    .where(and(eq(passkeys.id, use.id), eq(passkeys.counter, use.previousCounter)))
    .returning({ id: passkeys.id });
}

/**
 * An audit event about one of the user's passkeys, recorded only if that
 * passkey is theirs and still there: put before the statement that changes
 * it, in the same batch.
 */
export function auditPasskeyOfUserStatement(
  db: Db,
  event: { type: AuditEventType; userId: string; credentialId: string; ip: string | null; at: number },
) {
  // INSERT … SELECT names every column of audit_events, in order (Drizzle checks it).
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<number>`null`.as('id'),
        at: sql<number>`${event.at}`.as('at'),
        type: sql<AuditEventType>`${event.type}`.as('type'),
        userId: passkeys.userId,
        clientId: sql<string | null>`null`.as('client_id'),
        ip: sql<string | null>`${event.ip}`.as('ip'),
        actorId: sql<string | null>`null`.as('actor_id'),
      })
      .from(passkeys)
      .where(and(eq(passkeys.id, event.credentialId), eq(passkeys.userId, event.userId))),
  );
}

/** Deletes one of the user's passkeys; answers its id when it was theirs. */
export function deletePasskeyOfUserStatement(db: Db, userId: string, credentialId: string) {
  return db
    .delete(passkeys)
    .where(and(eq(passkeys.id, credentialId), eq(passkeys.userId, userId)))
    .returning({ id: passkeys.id });
}
