import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { base64url, sha256 } from '../lib/crypto';
import type { NetworkKey } from '../lib/network';
import { passwordResetRequired } from '../storage/admin-users';
import { recordAudit } from '../storage/audit';
import type { User } from '../storage/schema';
import { authenticate, type Credentials } from './accounts';
import { fromNetwork, isLocked, type LimitName, type LimitSubject, lock, overLimit, tooManyRequests } from './rate-limits';
import { signDeviceToken, verifyDeviceToken } from './tokens';
import { hasTwoFactor } from './totp';
import { turnstileSiteKey, verifyTurnstile } from './turnstile';

// Failed sign-ins are limited so that guessing stays hopeless without handing
// an attacker a way to lock an account's owner out (OWASP Authentication
// Cheat Sheet, "Account lockout", and its "device cookies" proposal):
// - per client network (30 a minute) and per account and network (10): always;
// - per account (10), but only for browsers without a device cookie for it:
//   a browser that signed in to the account before is counted per device
//   cookie (10) instead, so an attacker elsewhere cannot shut it out;
// - over a limit, a KV lock stops password checks for a minute (429), so a
//   guess past the limit is never even tried. Where Turnstile is configured,
//   a page browser held only by the account-wide limit may solve a challenge
//   instead; /api/login (JSON, no cookies) can only wait.

/** Where a sign-in attempt comes from, as the limits see it. */
export interface SignInAttempt {
  /** CF-Connecting-IP, for the audit trail. */
  ip: string | null;
  /** The client's network (helpers/client-ip.ts `clientNetwork`), what the per-network limits count. */
  network: NetworkKey | null;
  /** The device cookie the browser sent, if any. */
  deviceToken?: string | undefined;
  /** Whether the caller can show a Turnstile challenge (the sign-in page can; JSON cannot). */
  canShowChallenge: boolean;
  /** The token of a solved Turnstile challenge, from the sign-in form. */
  turnstileToken?: string | undefined;
}

/**
 * A 429 that a challenge can lift: the account is over its account-wide
 * limit, the browser has no device cookie for it, and Turnstile is configured.
 * The sign-in page shows the widget with `siteKey`.
 */
export class ChallengeRequired extends OAuthError {
  readonly siteKey: string;

  constructor(siteKey: string) {
    super('too_many_requests', { status: 429, description: 'too many attempts for this account: solve the challenge to go on' });
    this.siteKey = siteKey;
  }
}

/** The subjects one attempt is counted against. */
interface LimitSubjects {
  network: NetworkKey | null;
  pair: string;
  account: string;
  /** The device cookie's id when the browser has one for this account: then it, not the account, is counted. */
  device: string | null;
}

/** A right password: the user, and whether a second factor must still be given (two-factor is on). */
export interface PasswordAccepted {
  user: User;
  twoFactor: boolean;
}

/**
 * A password sign-in, as both /login and /api/login do it. Throws 429 (or
 * `ChallengeRequired`) while a limit holds the attempt: the password is then
 * not checked. Every outcome is audited: a user with two-factor on has only
 * passed the first step (`password_accepted`; services/totp.ts records the
 * sign-in when the code comes). Null for a wrong email or password.
 */
export async function signIn(deps: Deps, credentials: Credentials, attempt: SignInAttempt): Promise<PasswordAccepted | null> {
  const subjects = await limitSubjects(deps, credentials.email, attempt);
  const challenged = await assertMayTry(deps, subjects, attempt);
  const result = await authenticate(deps, credentials);
  if (result.ok) {
    await assertMaySignIn(deps, result.user, attempt.ip);
    const twoFactor = await hasTwoFactor(deps, result.user.id);
    await recordAudit(deps.db, { type: twoFactor ? 'password_accepted' : 'sign_in', userId: result.user.id, ip: attempt.ip });
    return { user: result.user, twoFactor };
  }
  await recordAudit(deps.db, { type: 'sign_in_failed', userId: result.userId, ip: attempt.ip });
  await countFailure(deps, subjects, challenged, { userId: result.userId, ip: attempt.ip });
  return null;
}

/**
 * A right password that still signs nobody in (the admin console, issue 18):
 * the account is disabled, or an admin asked for a new password. Said only
 * after the password was right, so it tells a guesser nothing. 403.
 */
export class SignInRefused extends OAuthError {
  readonly reason: 'disabled' | 'password_reset';

  constructor(reason: 'disabled' | 'password_reset') {
    super('access_denied', {
      status: 403,
      description:
        reason === 'disabled' ? 'this account is disabled' : 'this account needs a new password: use Forgot password? to set one',
    });
    this.reason = reason;
  }
}

/** Refuses (and audits) a right password of a disabled account or of one that must set a new password. */
async function assertMaySignIn(deps: Deps, user: User, ip: string | null): Promise<void> {
  const reason = user.disabledAt !== null ? 'disabled' : (await passwordResetRequired(deps.db, user.id)) ? 'password_reset' : null;
  if (!reason) return;
  await recordAudit(deps.db, { type: 'sign_in_refused', userId: user.id, ip });
  throw new SignInRefused(reason);
}

/** The device cookie's token for a browser that just proved it knows the account's password. */
export async function deviceTokenFor(deps: Deps, email: string): Promise<string> {
  return signDeviceToken(deps, await loginOf(email));
}

/** How a device cookie names an account: a hash of its email, so the cookie never carries the address. */
async function loginOf(email: string): Promise<string> {
  return base64url(await sha256(email.toLowerCase()));
}

async function limitSubjects(deps: Deps, email: string, attempt: SignInAttempt): Promise<LimitSubjects> {
  const claims = attempt.deviceToken ? await verifyDeviceToken(deps, attempt.deviceToken) : null;
  const trusted = claims !== null && claims.login === (await loginOf(email));
  return {
    network: attempt.network,
    pair: fromNetwork(email, attempt.network),
    account: email,
    device: trusted ? claims.jti : null,
  };
}

/**
 * Refuses an attempt that a lock holds (429, the password unchecked). The
 * account-wide lock alone, for a page browser where Turnstile is configured,
 * asks for a challenge instead; true when a solved one let the attempt through.
 */
async function assertMayTry(deps: Deps, subjects: LimitSubjects, attempt: SignInAttempt): Promise<boolean> {
  const [networkLocked, pairLocked, heldLocked] = await Promise.all([
    subjects.network ? isLocked(deps, 'signInNetwork', subjects.network) : false,
    isLocked(deps, 'signInPair', subjects.pair),
    subjects.device ? isLocked(deps, 'signInDevice', subjects.device) : isLocked(deps, 'signIn', subjects.account),
  ]);
  if (networkLocked || pairLocked || (heldLocked && subjects.device)) throw tooManyRequests();
  if (!heldLocked) return false;
  const siteKey = attempt.canShowChallenge ? turnstileSiteKey(deps.env) : null;
  if (!siteKey) throw tooManyRequests();
  if (!attempt.turnstileToken) throw new ChallengeRequired(siteKey);
  if (await verifyTurnstile(deps, attempt.turnstileToken, attempt.ip)) return true;
  // A failed challenge counts against the network, so nobody can make us call siteverify without limit.
  if (subjects.network && (await overLimit(deps, 'signInNetwork', subjects.network))) {
    await lock(deps, 'signInNetwork', subjects.network);
    throw tooManyRequests();
  }
  throw new ChallengeRequired(siteKey);
}

/**
 * Counts a wrong password against every limit the attempt is under; a limit
 * it goes over is locked for a minute and the attempt answered 429 (audited
 * once, as `sign_in_limited`). After a solved challenge, going over the
 * account-wide limit again only means the next attempt needs another.
 */
async function countFailure(deps: Deps, subjects: LimitSubjects, challenged: boolean, audit: { userId: string | null; ip: string | null }) {
  const { network, pair, device, account } = subjects;
  const [networkOver, pairOver, heldOver] = await Promise.all([
    network ? overAndLocked(deps, 'signInNetwork', network) : false,
    overAndLocked(deps, 'signInPair', pair),
    device ? overAndLocked(deps, 'signInDevice', device) : overAndLocked(deps, 'signIn', account),
  ]);
  if (!networkOver && !pairOver && !heldOver) return;
  await recordAudit(deps.db, { type: 'sign_in_limited', ...audit });
  if (networkOver || pairOver || device || !challenged) throw tooManyRequests();
}

/** Counts one failure; true (and locked for a minute) when that puts the subject over its limit. */
async function overAndLocked<N extends LimitName>(deps: Deps, name: N, subject: LimitSubject<N>): Promise<boolean> {
  if (!(await overLimit(deps, name, subject))) return false;
  await lock(deps, name, subject);
  return true;
}
