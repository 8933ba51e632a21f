import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { PENDING_SIGN_IN_TTL, RATE_LIMIT_WINDOW, TWO_FACTOR_CODE_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientIp } from '../helpers/client-ip';
import { clearCookie, readCookie, writeCookie, writeDeviceCookie } from '../helpers/cookies';
import { signInPage } from '../helpers/sign-in-page';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession, startSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { deviceTokenFor } from '../services/sign-in';
import { completeSignIn, confirmSetup, disableTwoFactor, findPendingSignIn, startSetup, type TwoFactorChanger } from '../services/totp';
import type { SessionInfo } from '../storage/sessions';
import { TwoFactorCodePage, TwoFactorDonePage, TwoFactorSetupPage } from '../views/two-factor';

/**
 * The pending sign-in cookie: the random value whose hash keys the pending
 * sign-in in D1 (services/totp.ts), so only this browser can complete it.
 * HttpOnly, SameSite=Lax, `__Host-` and Secure on https like every cookie
 * here; it lives as long as the pending sign-in (PENDING_SIGN_IN_TTL).
 */
export const PENDING_SIGN_IN_COOKIE = 'tg_2fa';
/** A pending sign-in cookie value is 256 bits, base64url: anything else is not looked up. */
const PENDING_TOKEN = /^[A-Za-z0-9_-]{43}$/;

function readPendingCookie(c: Context<AppEnv>): string | null {
  const token = readCookie(c, PENDING_SIGN_IN_COOKIE);
  return token && PENDING_TOKEN.test(token) ? token : null;
}

/** Sends the browser to the code step of a sign-in whose password was right (routes/login.tsx). */
export function askForSecondFactor(c: Context<AppEnv>, token: string): Response {
  writeCookie(c, PENDING_SIGN_IN_COOKIE, token, PENDING_SIGN_IN_TTL);
  return c.redirect('/login/two-factor', 303);
}

/** RFC 6585 §4: how long to wait before trying again, seconds. */
const RETRY_AFTER = String(RATE_LIMIT_WINDOW);

/** A 429 from the code limit, as a value for the page to say so. */
async function limited<T>(step: () => Promise<T>): Promise<T | 'limited'> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof OAuthError && error.code === 'too_many_requests') return 'limited';
    throw error;
  }
}

const TOO_MANY = 'Too many wrong codes. Wait a minute and try again.';
const WRONG = 'That code is not right. Enter the code your app shows now, or a recovery code.';

const codeForm = z.object({ code: z.string().max(TWO_FACTOR_CODE_MAX_LENGTH), csrf_token: z.string() });
const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded')] as const;
const emptyForm = z.object({ csrf_token: z.string() });

/** The user changing two-factor, and the session to keep when their others end. */
function changerOf(session: SessionInfo): TwoFactorChanger {
  return { user: session.user, sessionIdHash: session.idHash };
}

/** /account/two-factor: set up (CSRF-protected), confirm with a first code, turn off with a fresh one. */
export const twoFactorAccount = new Hono<AppEnv>();

twoFactorAccount.post(
  '/setup',
  ...formPost,
  loadSession,
  verifyCsrf,
  validatePage('form', emptyForm, 'The form is invalid'),
  async function setUpTwoFactor(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const setup = await startSetup(c.var.deps, session.user);
    if (!setup) {
      return c.html(<TwoFactorDonePage title="Two-factor is on" message="Two-factor sign-in is already on for your account." />, 409);
    }
    return c.html(<TwoFactorSetupPage csrf={csrfToken(c)} secret={setup.secret} qrSvg={setup.qrSvg} recoveryCodes={setup.recoveryCodes} />);
  },
);

twoFactorAccount.post(
  '/confirm',
  ...formPost,
  loadSession,
  verifyCsrf,
  validatePage('form', codeForm, 'The form is invalid'),
  async function confirmTwoFactor(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const outcome = await limited(() => confirmSetup(c.var.deps, changerOf(session), c.req.valid('form').code, clientIp(c)));
    if (outcome === 'ok') return c.redirect('/account', 303);
    if (outcome === 'none') {
      const message = 'There is no two-factor setup to confirm. Start it again from your account.';
      return c.html(<TwoFactorDonePage title="Nothing to confirm" message={message} />, 409);
    }
    if (outcome === 'limited') {
      return c.html(<TwoFactorSetupPage csrf={csrfToken(c)} error={TOO_MANY} />, 429, { 'Retry-After': RETRY_AFTER });
    }
    return c.html(<TwoFactorSetupPage csrf={csrfToken(c)} error={WRONG} />, 400);
  },
);

twoFactorAccount.post(
  '/disable',
  ...formPost,
  loadSession,
  verifyCsrf,
  validatePage('form', codeForm, 'The form is invalid'),
  async function turnOffTwoFactor(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const outcome = await limited(() => disableTwoFactor(c.var.deps, changerOf(session), c.req.valid('form').code, clientIp(c)));
    if (outcome === 'ok' || outcome === 'none') return c.redirect('/account', 303);
    const page = (
      <TwoFactorDonePage title="Two-factor is still on" message={outcome === 'limited' ? TOO_MANY : `${WRONG} Two-factor stays on.`} />
    );
    return outcome === 'limited' ? c.html(page, 429, { 'Retry-After': RETRY_AFTER }) : c.html(page, 400);
  },
);

/** /login/two-factor: sign-in's second step, for the browser holding the pending sign-in cookie. */
export const twoFactorSignIn = new Hono<AppEnv>();

/** The sign-in page, saying the pending sign-in is gone (expired, completed, or another browser's). */
function startAgain(c: Context<AppEnv>): Response | Promise<Response> {
  clearCookie(c, PENDING_SIGN_IN_COOKIE);
  const error = 'Your sign-in has expired. Sign in again.';
  return signInPage(c, { returnTo: '/account', error }, 401);
}

twoFactorSignIn.get('/', async function codePage(c) {
  const token = readPendingCookie(c);
  if (!token || !(await findPendingSignIn(c.var.deps, token))) return c.redirect('/login', 303);
  return c.html(<TwoFactorCodePage csrf={csrfToken(c)} />);
});

twoFactorSignIn.post('/', ...formPost, verifyCsrf, validatePage('form', codeForm, 'The form is invalid'), async function verifyCode(c) {
  const token = readPendingCookie(c);
  if (!token) return startAgain(c);
  const { deps } = c.var;
  const result = await limited(() => completeSignIn(deps, token, c.req.valid('form').code, clientIp(c)));
  if (result === 'limited') {
    return c.html(<TwoFactorCodePage csrf={csrfToken(c)} error={TOO_MANY} />, 429, { 'Retry-After': RETRY_AFTER });
  }
  if (!result.ok) {
    if (result.reason === 'expired') return startAgain(c);
    return c.html(<TwoFactorCodePage csrf={csrfToken(c)} error={WRONG} />, 401);
  }
  clearCookie(c, PENDING_SIGN_IN_COOKIE);
  await startSession(c, result.user.id, result.amr);
  // This browser now signed in to the account: the account-wide password limit will not hold it (OWASP device cookies).
  writeDeviceCookie(c, await deviceTokenFor(deps, result.user.email));
  return c.redirect(result.returnTo, 303);
});
