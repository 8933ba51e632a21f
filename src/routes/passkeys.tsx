import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { RATE_LIMIT_WINDOW, WEBAUTHN_CHALLENGE_TTL, WEBAUTHN_RESPONSE_MAX_LENGTH } from '../config';
import { primaryWrite } from '../deps';
import type { AppEnv } from '../env';
import { OAuthError, PageError } from '../errors';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { clearCookie, readCookie, writeBookmarkCookie, writeCookie, writeDeviceCookie } from '../helpers/cookies';
import { signInPage } from '../helpers/sign-in-page';
import { limitBody, requireContentType } from '../middleware/body';
import { verifyCsrf } from '../middleware/csrf';
import { loadSession, startSession } from '../middleware/session';
import { emailSchema } from '../services/accounts';
import {
  authenticationCredentialSchema,
  beginRegistration,
  beginSignIn,
  credentialField,
  finishRegistration,
  finishSignIn,
  PasskeyError,
  passkeyNameSchema,
  registrationCredentialSchema,
  removePasskey,
} from '../services/passkeys';
import { countAttempt } from '../services/rate-limits';
import { deviceTokenFor } from '../services/sign-in';
import { safeReturnTo } from './login';

// Passkeys: sign in on /login, add and remove on /account. Each ceremony is
// two form posts from the page's module (/static/passkeys.js, no inline
// script): `…/options` answers the options for navigator.credentials as JSON
// and binds the challenge to this browser with a cookie; the form itself then
// posts the credential, and the answer is a redirect or a page, as for a
// password. Every post carries the page's CSRF token.

/**
 * The cookie naming the browser's pending ceremony: a 256-bit random value,
 * whose SHA-256 keys the challenge's row (webauthn_challenges). HttpOnly,
 * SameSite=Lax, `__Host-` and Secure on https, like every cookie here; it
 * lives as long as the challenge.
 */
const CHALLENGE_COOKIE = 'tg_webauthn';
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

function readChallengeCookie(c: Context<AppEnv>): string | undefined {
  const value = readCookie(c, CHALLENGE_COOKIE);
  return value && COOKIE_VALUE.test(value) ? value : undefined;
}

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded')] as const;

/** Options come back as JSON, never cached (they hold a challenge). */
function optionsResponse(c: Context<AppEnv>, options: unknown, cookie: string) {
  writeCookie(c, CHALLENGE_COOKIE, cookie, WEBAUTHN_CHALLENGE_TTL);
  c.header('Cache-Control', 'no-store');
  return c.json(options);
}

/** A malformed or oversized field is no value: the ceremony then fails with a plain sentence. */
const optionalEmail = emailSchema.optional().catch(undefined);

// ---- Sign-in, from /login -------------------------------------------------

export const passkeySignIn = new Hono<AppEnv>();

passkeySignIn.post('/options', ...formPost, verifyCsrf, async function passkeySignInOptions(c) {
  const body = await c.req.parseBody();
  const email = typeof body.email === 'string' && body.email.trim() !== '' ? optionalEmail.parse(body.email) : undefined;
  // Each ceremony is a D1 row for WEBAUTHN_CHALLENGE_TTL: counted per client network.
  const network = clientNetwork(c);
  if (network) await countAttempt(c.var.deps, 'passkeyChallengeNetwork', network);
  const { options, cookie } = await beginSignIn(c.var.deps, email);
  return optionsResponse(c, options, cookie);
});

const signInForm = z.object({
  credential: credentialField(authenticationCredentialSchema),
  return_to: z.string().optional(),
});

passkeySignIn.post('/', ...formPost, verifyCsrf, async function passkeySignInForm(c) {
  const body = await c.req.parseBody();
  const returnTo = safeReturnTo(body.return_to);
  const page = (error: string, status: 400 | 401 | 429, headers: Record<string, string> = {}) =>
    signInPage(c, { returnTo, error }, status, headers);
  const form = signInForm.safeParse(body);
  const cookie = readChallengeCookie(c);
  clearCookie(c, CHALLENGE_COOKIE);
  if (!form.success) return page('Your browser sent no passkey. Try again, or sign in with your password.', 400);
  try {
    const { user, amr } = await finishSignIn(c.var.deps, {
      cookie,
      credential: form.data.credential,
      ip: clientIp(c),
      network: clientNetwork(c),
    });
    await startSession(c, user.id, amr);
    // This browser proved it holds the account's passkey: the account-wide limit will not hold it (OWASP device cookies).
    writeDeviceCookie(c, await deviceTokenFor(c.var.deps, user.email));
    return c.redirect(returnTo, 303);
  } catch (error) {
    if (error instanceof PasskeyError) return page(error.message, 401);
    if (error instanceof OAuthError && error.code === 'too_many_requests') {
      return page('Too many attempts. Wait a minute and try again.', 429, { 'Retry-After': String(RATE_LIMIT_WINDOW) });
    }
    throw error;
  }
});

// ---- Adding and removing, on /account -------------------------------------

export const passkeyAccount = new Hono<AppEnv>();

passkeyAccount.post('/options', ...formPost, loadSession, verifyCsrf, async function passkeyRegistrationOptions(c) {
  const session = c.var.session;
  if (!session) throw new OAuthError('login_required', { status: 401, description: 'sign in to add a passkey' });
  const network = clientNetwork(c);
  if (network) await countAttempt(c.var.deps, 'passkeyChallengeNetwork', network);
  try {
    const { options, cookie } = await beginRegistration(c.var.deps, session.user);
    return optionsResponse(c, options, cookie);
  } catch (error) {
    if (error instanceof PasskeyError) throw new OAuthError('invalid_request', { status: 400, description: error.message });
    throw error;
  }
});

const registrationForm = z.object({
  name: passkeyNameSchema.optional().transform((name) => name ?? ''),
  credential: credentialField(registrationCredentialSchema),
});

passkeyAccount.post('/', ...formPost, loadSession, verifyCsrf, async function addPasskey(c) {
  const session = c.var.session;
  if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
  const cookie = readChallengeCookie(c);
  clearCookie(c, CHALLENGE_COOKIE);
  const form = registrationForm.safeParse(await c.req.parseBody());
  if (!form.success) {
    const nameTooLong = form.error.issues.some((issue) => issue.path[0] === 'name');
    const message = nameTooLong ? 'The passkey name is too long.' : 'Your browser sent no passkey. Try again.';
    throw new PageError('Passkey not added', message, 400);
  }
  // Written through a primary session whose bookmark the browser keeps: /account, read at a replica, then lists it.
  const write = primaryWrite(c.var.deps);
  try {
    await finishRegistration({ ...c.var.deps, db: write.db }, session.user, {
      cookie,
      name: form.data.name,
      credential: form.data.credential,
      ip: clientIp(c),
    });
  } catch (error) {
    if (error instanceof PasskeyError) throw new PageError('Passkey not added', error.message, 400);
    throw error;
  }
  writeBookmarkCookie(c, write.bookmark());
  return c.redirect('/account', 303);
});

const credentialParam = z.object({
  id: z
    .string()
    .min(1)
    .max(WEBAUTHN_RESPONSE_MAX_LENGTH)
    .regex(/^[A-Za-z0-9_-]+$/),
});

passkeyAccount.post('/:id/remove', ...formPost, loadSession, verifyCsrf, async function removePasskeyForm(c) {
  const session = c.var.session;
  if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
  const param = credentialParam.safeParse(c.req.param());
  const write = primaryWrite(c.var.deps);
  if (!param.success || !(await removePasskey({ ...c.var.deps, db: write.db }, session.user.id, param.data.id, clientIp(c)))) {
    throw new PageError('Not found', 'You have no such passkey.', 404);
  }
  writeBookmarkCookie(c, write.bookmark());
  return c.redirect('/account', 303);
});
