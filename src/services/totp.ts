import { decodeBase32IgnorePadding, encodeBase32LowerCaseNoPadding, encodeBase32UpperCaseNoPadding } from '@oslojs/encoding';
import { createTOTPKeyURI, verifyHOTP } from '@oslojs/otp';
import { renderSVG } from 'uqr';
import {
  PENDING_SIGN_IN_TTL,
  RECOVERY_CODE_BYTES,
  RECOVERY_CODE_COUNT,
  TOTP_DIGITS,
  TOTP_DRIFT_STEPS,
  TOTP_PERIOD,
  TOTP_SECRET_BYTES,
} from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement, recordAudit } from '../storage/audit';
import type { Db } from '../storage/db';
import type { User } from '../storage/schema';
import {
  consumePendingSignInStatement,
  deletePendingSignInStatement,
  disableStatements,
  endOtherSessionsStatement,
  insertPendingSignInStatement,
  pendingSignInQuery,
  type SecondFactorProof,
  setupStatements,
  totpCredentialQuery,
  twoFactorQuery,
  unusedRecoveryCodesQuery,
  useRecoveryCodeStatement,
  useStepStatement,
} from '../storage/totp';
import { openText, sealText } from './key-encryption';
import { isLoopbackIssuer } from './keys';
import { isLocked, lock, overLimit, tooManyRequests } from './rate-limits';

// Two-factor sign-in: TOTP (RFC 6238) with @oslojs/otp, and recovery codes.
// A code is accepted once (RFC 6238 §5.2): each accepted time step is
// recorded and only a later step is accepted after it, in one atomic UPDATE.
// Wrong codes are counted per account (the TOTP_LIMITER binding) like failed
// passwords: over the limit, a KV lock stops checking codes for a minute (429),
// so a guess past the limit is never even tried (RFC 4226 §7.3 throttling).

/** RFC 8176 `amr` of a password sign-in. */
export const AMR_PASSWORD = ['pwd'];
/** RFC 8176 §2 `fed`: a sign-in through an upstream provider's federated assertion (routes/upstream.tsx). */
export const AMR_FEDERATED = ['fed'];
/** RFC 8176 §2 `otp`: what a two-factor code adds to the first step's `amr` (`pwd`, or `fed` after an upstream sign-in). */
const AMR_OTP = 'otp';

/** Where the secret's sealing binds it: to this user and this purpose. */
function sealContext(userId: string): string {
  return `totp:${userId}`;
}

/**
 * The secret that seals a TOTP secret: KEY_ENCRYPTION_KEY. Without it a
 * secret is kept in clear only for a loopback issuer (local development), as
 * signing keys are (services/keys.ts); anywhere else setup fails closed.
 */
function sealingSecret(deps: Deps): string | undefined {
  if (deps.env.KEY_ENCRYPTION_KEY) return deps.env.KEY_ENCRYPTION_KEY;
  if (!isLoopbackIssuer(deps.issuer)) {
    throw new OAuthError('server_error', { status: 500, description: 'two-factor secrets need KEY_ENCRYPTION_KEY' });
  }
  return undefined;
}

async function openSecret(deps: Deps, userId: string, stored: string): Promise<Uint8Array> {
  return decodeBase32IgnorePadding(await openText(stored, sealContext(userId), deps.env.KEY_ENCRYPTION_KEY));
}

/** The time step of `time` (RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0). */
export function timeStep(time: number): number {
  return Math.floor(time / TOTP_PERIOD);
}

/**
 * The time step a code is right for, within TOTP_DRIFT_STEPS of now (RFC 6238
 * §5.2 allows one step of drift either side), or null. The latest matching
 * step wins, so a code is never accepted again for an earlier step.
 */
function matchingStep(key: Uint8Array, code: string, time: number): number | null {
  const current = timeStep(time);
  for (let step = current + TOTP_DRIFT_STEPS; step >= current - TOTP_DRIFT_STEPS; step--) {
    if (verifyHOTP(key, BigInt(step), TOTP_DIGITS, code)) return step;
  }
  return null;
}

/** What a typed code is: six digits (spaces ignored) for TOTP, anything else a recovery code. */
type TypedCode = { kind: 'totp'; code: string } | { kind: 'recovery'; code: string };

function readCode(input: string): TypedCode | null {
  const compact = input.replace(/[\s-]/g, '').toLowerCase();
  if (new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(compact)) return { kind: 'totp', code: compact };
  // A recovery code: RECOVERY_CODE_BYTES in base32 (lower case, no padding).
  if (/^[a-z2-7]{16}$/.test(compact)) return { kind: 'recovery', code: compact };
  return null;
}

/** A recovery code as shown: 16 base32 characters in groups of four. */
function formatRecoveryCode(code: string): string {
  return code.match(/.{4}/g)?.join('-') ?? code;
}

// --- Rate limit -----------------------------------------------------------

/** Refuses (429) while the account's code lock stands: the code is then not checked. */
async function assertMayTry(deps: Deps, userId: string): Promise<void> {
  if (await isLocked(deps, 'twoFactor', userId)) throw tooManyRequests();
}

/** Counts a wrong code; over the limit, locks codes for the account for a minute and throws 429. */
async function countWrongCode(deps: Deps, userId: string, ip: string | null): Promise<void> {
  await recordAudit(deps.db, { type: 'two_factor_failed', userId, ip });
  if (await overLimit(deps, 'twoFactor', userId)) {
    await lock(deps, 'twoFactor', userId);
    throw tooManyRequests();
  }
}

// --- Status and setup -------------------------------------------------------

/** Two-factor as /account shows it. */
export interface TwoFactorStatus {
  on: boolean;
  unusedRecoveryCodes: number;
}

/**
 * Whether the user has two-factor on, and how many recovery codes are left.
 * One D1 round trip, on the Db the caller reads its page from (/account: a
 * replica at least as fresh as the browser's last write).
 */
export async function twoFactorStatus(db: Db, userId: string): Promise<TwoFactorStatus> {
  const [on, unused] = await db.batch([twoFactorQuery(db, userId), unusedRecoveryCodesQuery(db, userId)]);
  return { on: on.length > 0, unusedRecoveryCodes: unused[0]?.count ?? 0 };
}

/** Whether the user has two-factor on. */
export async function hasTwoFactor(deps: Deps, userId: string): Promise<boolean> {
  return (await twoFactorQuery(deps.db, userId)).length > 0;
}

/** What the setup page shows, once. */
export interface TwoFactorSetup {
  /** The shared secret in base32 (RFC 4648 §6), for typing into an authenticator app. */
  secret: string;
  /** The `otpauth://totp/...` key URI authenticator apps read from the QR code. */
  uri: string;
  /** That URI as a QR code, an SVG document rendered here (no script, no inline style). */
  qrSvg: string;
  /** Ten recovery codes, shown this once: only their hashes are kept. */
  recoveryCodes: string[];
}

/**
 * Starts setup: a new 20-byte secret (RFC 4226 §4 R6) and ten recovery
 * codes, stored (the secret sealed, the codes hashed) in one D1 batch, so the
 * codes and the secret the page shows are exactly what is kept. The
 * credential stays unconfirmed until `confirmSetup`. Null when two-factor is
 * on already (the batch's statements then change nothing).
 */
export async function startSetup(deps: Deps, user: User): Promise<TwoFactorSetup | null> {
  const key = crypto.getRandomValues(new Uint8Array(TOTP_SECRET_BYTES));
  const secret = encodeBase32UpperCaseNoPadding(key);
  const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, () =>
    encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(RECOVERY_CODE_BYTES))),
  );
  const [sealed, recoveryCodeHashes] = await Promise.all([
    sealText(secret, sealContext(user.id), sealingSecret(deps)),
    Promise.all(recoveryCodes.map((code) => hashSecret(code))),
  ]);
  const results = await deps.db.batch(setupStatements(deps.db, { userId: user.id, secret: sealed, recoveryCodeHashes, time: now() }));
  const made = results[results.length - 1] as { userId: string }[];
  if (made.length === 0) return null;
  // The issuer label is the issuer's host (RFC 6238 key URI format, as authenticator apps show it).
  const uri = createTOTPKeyURI(new URL(deps.issuer).host, user.email, key, TOTP_PERIOD, TOTP_DIGITS);
  const qrSvg = renderSVG(uri, { border: 2 });
  return { secret, uri, qrSvg, recoveryCodes: recoveryCodes.map(formatRecoveryCode) };
}

export type CodeOutcome = 'ok' | 'wrong' | 'none';

/**
 * Who changes two-factor: the user, from the browser session `sessionIdHash`.
 * Turning two-factor on or off is a credential change, so it ends the user's
 * other browser sessions in the change's own batch, as a password reset does
 * (OWASP ASVS 4.0 V3.3.3; issue 15): a session stolen before the change stops
 * working, the one that made it stays. Passkeys leave sessions alone: adding
 * one takes nothing from whoever holds a session (a thief in one would only
 * sign the owner out), and removing one ends no session made with it, as the
 * other sessions can be signed out one by one on /account.
 */
export interface TwoFactorChanger {
  user: User;
  sessionIdHash: string;
}

/**
 * Confirms setup with a first code, which counts as used (its step is
 * recorded). 'none': no unfinished setup; 'wrong': the code is not right for
 * now ± one step. Audited. Throws 429 while the account's code limit holds.
 */
export async function confirmSetup(deps: Deps, changer: TwoFactorChanger, input: string, ip: string | null): Promise<CodeOutcome> {
  const { user } = changer;
  const [credential] = await totpCredentialQuery(deps.db, user.id);
  if (!credential || credential.confirmedAt !== null) return 'none';
  await assertMayTry(deps, user.id);
  const typed = readCode(input);
  const time = now();
  const step = typed?.kind === 'totp' ? matchingStep(await openSecret(deps, user.id, credential.secret), typed.code, time) : null;
  if (step === null) {
    await countWrongCode(deps, user.id, ip);
    return 'wrong';
  }
  // The confirmation, its audit event and the end of the user's other sessions
  // in one batch: the record exists exactly when two-factor went on.
  const [confirmed] = await deps.db.batch([
    useStepStatement(deps.db, { userId: user.id, step, time, confirm: true }),
    auditStatement(deps.db, { type: 'two_factor_enabled', userId: user.id, ip }),
    endOtherSessionsStatement(deps.db, { userId: user.id, keepIdHash: changer.sessionIdHash, whileOn: true }),
  ]);
  if (confirmed.length === 0) {
    // Confirmed meanwhile by another request with this very code, or setup was started again.
    return 'wrong';
  }
  return 'ok';
}

/** The proof a typed code gives for a user's confirmed credential, once checked; null when it is wrong. */
async function proofOf(deps: Deps, userId: string, storedSecret: string, input: string, time: number): Promise<SecondFactorProof | null> {
  const typed = readCode(input);
  if (!typed) return null;
  if (typed.kind === 'recovery') return { kind: 'recovery', codeHash: await hashSecret(typed.code) };
  const step = matchingStep(await openSecret(deps, userId, storedSecret), typed.code, time);
  return step === null ? null : { kind: 'totp', step };
}

/** The statement that spends a proof once (the step or the recovery code). */
function spendStatement(deps: Deps, userId: string, proof: SecondFactorProof, time: number) {
  return proof.kind === 'totp'
    ? useStepStatement(deps.db, { userId, step: proof.step, time, confirm: false })
    : useRecoveryCodeStatement(deps.db, { userId, codeHash: proof.codeHash, time });
}

/**
 * Turns two-factor off after a fresh code (a TOTP code or a recovery code),
 * which is spent. 'none': two-factor is not on. Throws 429 while the limit holds.
 *
 * The code is spent first (one atomic UPDATE: a replayed code matches
 * nothing), and only then are the credential and the recovery codes deleted,
 * with the audit event and the user's other sessions, in one batch: the
 * record exists exactly when two-factor went off.
 */
export async function disableTwoFactor(deps: Deps, changer: TwoFactorChanger, input: string, ip: string | null): Promise<CodeOutcome> {
  const { user } = changer;
  const [credential] = await totpCredentialQuery(deps.db, user.id);
  if (!credential || credential.confirmedAt === null) return 'none';
  await assertMayTry(deps, user.id);
  const time = now();
  const proof = await proofOf(deps, user.id, credential.secret, input, time);
  if (proof) {
    if ((await spendStatement(deps, user.id, proof, time)).length > 0) {
      const [removeCredential, removeCodes] = disableStatements(deps.db, user.id);
      await deps.db.batch([
        removeCredential,
        removeCodes,
        auditStatement(deps.db, { type: 'two_factor_disabled', userId: user.id, ip }),
        endOtherSessionsStatement(deps.db, { userId: user.id, keepIdHash: changer.sessionIdHash, whileOn: false }),
      ]);
      return 'ok';
    }
  }
  await countWrongCode(deps, user.id, ip);
  return 'wrong';
}

// --- Sign-in --------------------------------------------------------------

/**
 * After a right password or an upstream sign-in (its `amr` says which), for a
 * user with two-factor on: keeps the pending
 * sign-in in D1, keyed by the hash of a random value the browser gets in a
 * short-lived HttpOnly cookie (so it is bound to that browser), with where it
 * returns to. Returns the cookie's value.
 */
export async function beginPendingSignIn(deps: Deps, userId: string, returnTo: string, amr: string[]): Promise<string> {
  const token = randomSecret();
  const time = now();
  await insertPendingSignInStatement(deps.db, {
    idHash: await hashSecret(token),
    userId,
    returnTo,
    amr,
    time,
    expiresAt: time + PENDING_SIGN_IN_TTL,
  });
  return token;
}

/** A pending sign-in as the code page sees it: live, its user has two-factor on. */
export async function findPendingSignIn(deps: Deps, token: string): Promise<{ user: User; returnTo: string } | null> {
  const [row] = await pendingSignInQuery(deps.db, await hashSecret(token), now());
  return row ? { user: row.user, returnTo: row.pending.returnTo } : null;
}

export type SecondFactorResult =
  | { ok: true; user: User; returnTo: string; amr: string[] }
  | { ok: false; reason: 'expired' | 'wrong'; user?: User };

/**
 * Completes a pending sign-in with a code (TOTP or a recovery code). The
 * pending sign-in must be live and the browser's own (its cookie's hash).
 * Throws 429 while the account's code limit holds (the code unchecked) or
 * when this wrong code puts it over.
 *
 * The code is spent first (one atomic UPDATE ... RETURNING: a replayed step
 * or recovery code matches nothing), and only then is the pending sign-in
 * deleted (DELETE ... RETURNING: completed once), so a wrong or replayed code
 * leaves it for another try. Two round trips rather than one batch, because
 * a guard in SQL cannot tell this request's spend from an equal one made in
 * the same second. The caller then starts the session.
 */
export async function completeSignIn(deps: Deps, token: string, input: string, ip: string | null): Promise<SecondFactorResult> {
  const idHash = await hashSecret(token);
  const time = now();
  const [row] = await pendingSignInQuery(deps.db, idHash, time);
  if (!row) return { ok: false, reason: 'expired' };
  const { user, pending, credential } = row;
  await assertMayTry(deps, user.id);
  const proof = await proofOf(deps, user.id, credential.secret, input, time);
  if (proof) {
    const spent = await spendStatement(deps, user.id, proof, time);
    const consumed = spent.length > 0 ? await consumePendingSignInStatement(deps.db, { idHash, userId: user.id, time }) : [];
    if (consumed.length > 0) {
      // The sign-in is complete only now: it is audited here (sign-in.ts recorded only the password).
      const signedIn = auditStatement(deps.db, { type: 'sign_in', userId: user.id, ip });
      if (proof.kind === 'recovery') {
        await deps.db.batch([signedIn, auditStatement(deps.db, { type: 'recovery_code_used', userId: user.id, ip })]);
      } else {
        await signedIn;
      }
      return { ok: true, user, returnTo: pending.returnTo, amr: [...new Set([...pending.amr, AMR_OTP])] };
    }
    if (spent.length > 0) return { ok: false, reason: 'expired' };
  }
  await countWrongCode(deps, user.id, ip);
  return { ok: false, reason: 'wrong', user };
}

/** Drops a pending sign-in the browser leaves (it signs in again from the start). */
export async function abandonPendingSignIn(deps: Deps, token: string): Promise<void> {
  await deletePendingSignInStatement(deps.db, await hashSecret(token));
}

/**
 * A code sent with the password in one request (`POST /api/login`, which
 * keeps no state between requests): checked and spent as at the sign-in page,
 * under the same per-account limit. True when right, and then the sign-in is
 * audited (sign-in.ts recorded only the password).
 */
export async function verifyCodeOnce(deps: Deps, userId: string, input: string, ip: string | null): Promise<boolean> {
  const [credential] = await totpCredentialQuery(deps.db, userId);
  if (!credential || credential.confirmedAt === null) return false;
  await assertMayTry(deps, userId);
  const time = now();
  const proof = await proofOf(deps, userId, credential.secret, input, time);
  if (proof && (await spendStatement(deps, userId, proof, time)).length > 0) {
    const signedIn = auditStatement(deps.db, { type: 'sign_in', userId, ip });
    if (proof.kind === 'recovery') await deps.db.batch([signedIn, auditStatement(deps.db, { type: 'recovery_code_used', userId, ip })]);
    else await signedIn;
    return true;
  }
  await countWrongCode(deps, userId, ip);
  return false;
}
