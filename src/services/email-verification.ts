import { EMAIL_TOKEN_WINDOW, EMAIL_TOKENS_PER_WINDOW, EMAIL_VERIFICATION_TTL } from '../config';
import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import {
  auditConsumedStatement,
  type Consumption,
  consumeEmailTokenStatement,
  issueEmailTokenStatement,
  verifyConsumedEmailStatement,
} from '../storage/email-tokens';
import { mailerFor, sendQuietly } from './mailer';
import { accountExistsMail, verificationMail } from './mailer-messages';
import { overLimit } from './rate-limits';

/** Where a verification link points; the token is its only secret. */
export const VERIFY_EMAIL_PATH = '/verify-email';

/**
 * Mails a verification link to the user with this address (sign-up, or
 * "Resend" on /account), unless they are verified already, disabled, or were
 * sent EMAIL_TOKENS_PER_WINDOW links this hour. The link's token is 256
 * random bits; only its SHA-256 is stored. Meant to run after the response
 * (waitUntil): it never throws.
 */
export async function sendVerificationMail(deps: Deps, user: { email: string; name: string }): Promise<void> {
  try {
    // First: a refused mail configuration (DEV_MAILBOX off loopback) stops here, before a link is made.
    const mailer = mailerFor(deps);
    const token = randomSecret();
    const time = now();
    const made = await issueEmailTokenStatement(deps.db, {
      hash: await hashSecret(token),
      email: user.email,
      purpose: 'verify_email',
      time,
      ttl: EMAIL_VERIFICATION_TTL,
      max: EMAIL_TOKENS_PER_WINDOW,
      since: time - EMAIL_TOKEN_WINDOW,
    });
    if (made.length === 0) return;
    const link = `${deps.issuer}${VERIFY_EMAIL_PATH}?token=${token}`;
    await sendQuietly(mailer, verificationMail(user.email, user.name, link, EMAIL_VERIFICATION_TTL / 3600));
  } catch (error) {
    console.error(`Tollgate: a verification mail failed: ${error instanceof Error ? error.name : 'unknown error'}`);
  }
}

/**
 * Tells the owner of an address that someone tried to sign up with it, at
 * most MAIL_ADDRESS_LIMITER a minute (so a sign-up form cannot mail-bomb
 * them). Meant to run after the response: it never throws.
 */
export async function mailOwnerOfTakenAddress(deps: Deps, email: string): Promise<void> {
  try {
    if (await overLimit(deps, 'mailAddress', email)) return;
    await sendQuietly(mailerFor(deps), accountExistsMail(email, `${deps.issuer}/login`, `${deps.issuer}/forgot`));
  } catch (error) {
    console.error(`Tollgate: an account-exists mail failed: ${error instanceof Error ? error.name : 'unknown error'}`);
  }
}

/**
 * Follows a verification link: in one D1 batch the link is used (once, while
 * unexpired), the user's email_verified_at set if the link went to the
 * address they still have, and `email_verified` audited. The `email_verified`
 * claim follows (services/scopes.ts). False for a spent, expired or unknown link.
 */
export async function verifyEmail(deps: Deps, token: string, ip: string | null): Promise<boolean> {
  const { db } = deps;
  const use: Consumption = { hash: await hashSecret(token), purpose: 'verify_email', marker: randomSecret(), time: now() };
  // One batch, one transaction: the consumption and what it allows stand or fall together.
  const [consumed] = await db.batch([
    consumeEmailTokenStatement(db, use),
    verifyConsumedEmailStatement(db, use),
    auditConsumedStatement(db, use, 'email_verified', ip),
  ]);
  return consumed.length > 0;
}
