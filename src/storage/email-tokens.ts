import { and, eq, gt, isNull, lt, ne, sql } from 'drizzle-orm';
import type { Db } from './db';
import {
  auditEvents,
  type EmailTokenPurpose,
  emailTokens,
  grants,
  passwordResetRequirements,
  pendingSignIns,
  sessions,
  userApiTokens,
  users,
} from './schema';

/** A link to make: its token's hash, for whom (by email), what for, and its limits. */
export interface NewEmailToken {
  hash: string;
  email: string;
  purpose: EmailTokenPurpose;
  time: number;
  ttl: number;
  /** At most this many links of the purpose per user made since `since`: past it, none is made. */
  max: number;
  since: number;
}

/**
 * Makes a link for the active user with this email, in one statement: an
 * INSERT ... SELECT from `users` that inserts nothing when no such user
 * exists, the user is disabled, already holds `max` links of the purpose made
 * since `since`, or (for a verification) is already verified. Answers the
 * row made, if any. One statement whether or not the email is known: the
 * caller's work does not tell (no account enumeration).
 */
export function issueEmailTokenStatement(db: Db, token: NewEmailToken) {
  const recent = sql`(select count(*) from ${emailTokens} where ${emailTokens.userId} = ${users.id} and ${emailTokens.purpose} = ${token.purpose} and ${emailTokens.createdAt} > ${token.since})`;
  return db
    .insert(emailTokens)
    .select(
      db
        .select({
          hash: sql<string>`${token.hash}`.as('hash'),
          userId: sql<string>`${users.id}`.as('user_id'),
          purpose: sql<EmailTokenPurpose>`${token.purpose}`.as('purpose'),
          email: sql<string>`${users.email}`.as('email'),
          createdAt: sql<number>`${token.time}`.as('created_at'),
          expiresAt: sql<number>`${token.time + token.ttl}`.as('expires_at'),
          usedAt: sql<null>`null`.as('used_at'),
          consumption: sql<null>`null`.as('consumption'),
        })
        .from(users)
        .where(
          and(
            eq(users.email, token.email),
            isNull(users.disabledAt),
            token.purpose === 'verify_email' ? isNull(users.emailVerifiedAt) : undefined,
            sql`${recent} < ${token.max}`,
          ),
        ),
    )
    .returning({ userId: emailTokens.userId, email: emailTokens.email });
}

/** The user a live (unused, unexpired) link of the purpose names, or nothing: the reset page's check before its form. */
export function liveEmailTokenQuery(db: Db, hash: string, purpose: EmailTokenPurpose, time: number) {
  return db
    .select({ userId: emailTokens.userId, email: emailTokens.email })
    .from(emailTokens)
    .where(and(eq(emailTokens.hash, hash), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt), gt(emailTokens.expiresAt, time)))
    .limit(1);
}

/** Which use of a link a batch is: the link's hash and the random marker its consuming UPDATE sets. */
export interface Consumption {
  hash: string;
  purpose: EmailTokenPurpose;
  marker: string;
  time: number;
}

/**
 * Uses a link once: marks it used with this batch's marker where it is of the
 * purpose, unused and unexpired, and answers its user. Of two uses at once
 * exactly one finds it unused (D1 runs a batch as one transaction), and the
 * statements after it in the batch act only through `consumedUserId`, so a
 * spent, expired or unknown link changes nothing.
 */
export function consumeEmailTokenStatement(db: Db, use: Consumption) {
  return db
    .update(emailTokens)
    .set({ usedAt: use.time, consumption: use.marker })
    .where(
      and(
        eq(emailTokens.hash, use.hash),
        eq(emailTokens.purpose, use.purpose),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, use.time),
      ),
    )
    .returning({ userId: emailTokens.userId, email: emailTokens.email });
}

/** The user of the link this batch consumed (null when it consumed none). */
function consumedUserId(use: Consumption) {
  return sql`(select ${emailTokens.userId} from ${emailTokens} where ${emailTokens.hash} = ${use.hash} and ${emailTokens.consumption} = ${use.marker})`;
}

/** Marks the user's email verified, if the link consumed in this batch was mailed to the address they still have. */
export function verifyConsumedEmailStatement(db: Db, use: Consumption) {
  const mailedTo = sql`(select ${emailTokens.email} from ${emailTokens} where ${emailTokens.hash} = ${use.hash} and ${emailTokens.consumption} = ${use.marker})`;
  return db
    .update(users)
    .set({ emailVerifiedAt: use.time })
    .where(and(eq(users.id, consumedUserId(use)), eq(users.email, mailedTo), isNull(users.emailVerifiedAt)));
}

/**
 * A password reset's writes for the user of the link consumed in this batch:
 * the new password hash; every session, half-finished two-factor sign-in
 * (begun with the old password: its code must not finish it), user API
 * token and grant of theirs deleted (a grant's deletion ends its codes,
 * refresh tokens and, through the bearer grant check, its access tokens);
 * their other reset links spent.
 * All act through `consumedUserId`, so none acts without the consumption.
 */
export function resetConsumedPasswordStatements(db: Db, use: Consumption, passwordHash: string) {
  const userId = consumedUserId(use);
  return [
    db.update(users).set({ passwordHash }).where(eq(users.id, userId)),
    db.delete(sessions).where(eq(sessions.userId, userId)),
    db.delete(pendingSignIns).where(eq(pendingSignIns.userId, userId)),
    db.delete(userApiTokens).where(eq(userApiTokens.userId, userId)),
    db.delete(grants).where(eq(grants.userId, userId)),
    // A new password is what an admin's "Require a password reset" waits for (the admin console).
    db.delete(passwordResetRequirements).where(eq(passwordResetRequirements.userId, userId)),
    db
      .update(emailTokens)
      .set({ usedAt: use.time })
      .where(
        and(
          eq(emailTokens.userId, userId),
          eq(emailTokens.purpose, 'reset_password'),
          isNull(emailTokens.usedAt),
          ne(emailTokens.hash, use.hash),
        ),
      ),
  ] as const;
}

/** The audit event of what the batch did with the consumed link, for its user (none when it consumed none). */
export function auditConsumedStatement(db: Db, use: Consumption, type: 'password_reset' | 'email_verified', ip: string | null) {
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<null>`null`.as('id'),
        at: sql<number>`${use.time}`.as('at'),
        type: sql<string>`${type}`.as('type'),
        userId: sql<string>`${emailTokens.userId}`.as('user_id'),
        clientId: sql<null>`null`.as('client_id'),
        ip: sql<string | null>`${ip}`.as('ip'),
        actorId: sql<null>`null`.as('actor_id'),
      })
      .from(emailTokens)
      .where(and(eq(emailTokens.hash, use.hash), eq(emailTokens.consumption, use.marker))),
  );
}

/** Deletes links that expired before `before` (the daily prune). */
export function pruneEmailTokensStatement(db: Db, before: number) {
  return db.delete(emailTokens).where(lt(emailTokens.expiresAt, before));
}
