import { EMAIL_TOKEN_WINDOW, EMAIL_TOKENS_PER_WINDOW, PASSWORD_RESET_TTL } from '../config';
import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import {
  auditConsumedStatement,
  type Consumption,
  consumeEmailTokenStatement,
  issueEmailTokenStatement,
  liveEmailTokenQuery,
  resetConsumedPasswordStatements,
} from '../storage/email-tokens';
import { mailerFor, sendQuietly } from './mailer';
import { passwordResetMail } from './mailer-messages';
import { hashPassword } from './passwords';

/** Where a reset link points; the token is its only secret. */
export const RESET_PASSWORD_PATH = '/reset-password';

// OWASP Forgot Password Cheat Sheet: the same answer and the same time for
// an address with and without an account (the route answers before this
// runs, and this makes one statement either way); a random single-use token,
// stored hashed, expiring (PASSWORD_RESET_TTL, 30 minutes); the new password
// under the usual policy; and the user's sessions ended after the change.

/**
 * Mails a reset link if an active account has this address and has not been
 * sent EMAIL_TOKENS_PER_WINDOW of them this hour. One D1 statement whether or
 * not it does (an INSERT ... SELECT from users). Meant to run after the
 * response (waitUntil): it never throws.
 */
export async function requestPasswordReset(deps: Deps, email: string): Promise<void> {
  try {
    // First: a refused mail configuration (DEV_MAILBOX off loopback) stops here, before a link is made.
    const mailer = mailerFor(deps);
    const token = randomSecret();
    const time = now();
    const made = await issueEmailTokenStatement(deps.db, {
      hash: await hashSecret(token),
      email,
      purpose: 'reset_password',
      time,
      ttl: PASSWORD_RESET_TTL,
      max: EMAIL_TOKENS_PER_WINDOW,
      since: time - EMAIL_TOKEN_WINDOW,
    });
    const row = made[0];
    if (!row) return;
    const link = `${deps.issuer}${RESET_PASSWORD_PATH}?token=${token}`;
    await sendQuietly(mailer, passwordResetMail(row.email, link, PASSWORD_RESET_TTL / 60));
  } catch (error) {
    console.error(`Tollgate: a password reset mail failed: ${error instanceof Error ? error.name : 'unknown error'}`);
  }
}

/** Whether a reset link is live (unused, unexpired): the page shows its form only then. */
export async function isLiveResetLink(deps: Deps, token: string): Promise<boolean> {
  const rows = await liveEmailTokenQuery(deps.db, await hashSecret(token), 'reset_password', now());
  return rows.length > 0;
}

/**
 * Sets a new password through a reset link, in one D1 batch (one
 * transaction, so all of it or none): the link is used once; the password
 * hash replaced; every session, user API token and grant of the user deleted
 * (OWASP ASVS 4.0 V3.3.3: after a reset no one stays signed in with the old
 * password, and apps must be authorized again, which ends their refresh and
 * access tokens); the user's other reset links spent; `password_reset`
 * audited. The new password was checked against the policy by the caller.
 * False for a spent, expired or unknown link: then nothing changed.
 */
export async function resetPassword(deps: Deps, token: string, newPassword: string, ip: string | null): Promise<boolean> {
  const { db } = deps;
  // Hashed before the batch: PBKDF2 takes tens of milliseconds, a transaction should not.
  const passwordHash = await hashPassword(newPassword);
  const use: Consumption = { hash: await hashSecret(token), purpose: 'reset_password', marker: randomSecret(), time: now() };
  const [consumed] = await db.batch([
    consumeEmailTokenStatement(db, use),
    ...resetConsumedPasswordStatements(db, use, passwordHash),
    auditConsumedStatement(db, use, 'password_reset', ip),
  ]);
  return consumed.length > 0;
}
