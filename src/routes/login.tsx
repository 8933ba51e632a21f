import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { EMAIL_MAX_LENGTH, RATE_LIMIT_WINDOW, RETURN_TO_MAX_LENGTH, TURNSTILE_TOKEN_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { afterResponse } from '../helpers/after-response';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { readDeviceCookie, writeDeviceCookie } from '../helpers/cookies';
import { signInPage } from '../helpers/sign-in-page';
import { describeIssues } from '../lib/issues';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { endSession, loadSession, startSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { credentialsSchema, signUp, signupSchema } from '../services/accounts';
import { mailOwnerOfTakenAddress, sendVerificationMail } from '../services/email-verification';
import { countAttempt } from '../services/rate-limits';
import { ChallengeRequired, deviceTokenFor, SignInRefused, signIn } from '../services/sign-in';
import { AMR_PASSWORD, beginPendingSignIn } from '../services/totp';
import { SignupPage } from '../views/auth-pages';
import { askForSecondFactor } from './two-factor';

/** Where a signed-in user lands when no (valid) return path was given. */
const DEFAULT_RETURN = '/account';

/**
 * Only same-origin relative paths may be returned to (RFC 9700 §4.11: no open
 * redirect). `//host` and `/\host` are protocol-relative to a browser, so the
 * path is resolved against a dummy origin and must stay on it; and what comes
 * out must not be protocol-relative either, since resolving dot segments can
 * make one (`/.//evil.example` becomes `//evil.example`).
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length > RETURN_TO_MAX_LENGTH || !value.startsWith('/') || /[\\\s]/.test(value)) {
    return DEFAULT_RETURN;
  }
  const base = 'http://return.invalid';
  try {
    const url = new URL(value, base);
    const path = url.pathname + url.search;
    return url.origin === base && !path.startsWith('//') ? path : DEFAULT_RETURN;
  } catch {
    return DEFAULT_RETURN;
  }
}

/**
 * The sign-in and sign-up pages' query. Nothing in it is worth refusing a page
 * for: a bad, repeated or too-long `login_hint` is ignored (no prefill), and a
 * bad or repeated `return_to` falls back to the default like an unsafe one.
 */
const pageQuery = z.object({
  return_to: z.string().optional().catch(undefined),
  login_hint: z.string().max(EMAIL_MAX_LENGTH).optional().catch(undefined),
});
/** RFC 6585 §4: how long to wait before trying again, seconds. */
const RETRY_AFTER = String(RATE_LIMIT_WINDOW);
const formExtras = z.object({ return_to: z.string().optional(), csrf_token: z.string() });
const loginForm = credentialsSchema.extend({
  ...formExtras.shape,
  // Turnstile's widget adds its token to the form; a malformed one is no token (so no pass), not a bad form.
  'cf-turnstile-response': z.string().max(TURNSTILE_TOKEN_MAX_LENGTH).optional().catch(undefined),
});
const signupForm = signupSchema.extend(formExtras.shape);

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf] as const;

/** Sign-up, sign-in and sign-out pages (hono/jsx, CSRF-protected forms). */
export const pages = new Hono<AppEnv>();

pages.get('/login', validatePage('query', pageQuery), function loginPage(c) {
  const query = c.req.valid('query');
  return signInPage(c, { returnTo: safeReturnTo(query.return_to), email: query.login_hint });
});

/**
 * The sign-in page saying to wait, 429 with Retry-After (RFC 6585 §4): for
 * every limited way of signing in (a password here, an upstream provider in
 * routes/upstream.tsx).
 */
export function rateLimitedSignIn(c: Context<AppEnv>, returnTo: string, email?: string) {
  const error = 'Too many attempts. Wait a minute and try again.';
  return signInPage(c, { returnTo, email, error }, 429, { 'Retry-After': RETRY_AFTER });
}

const RATE_LIMITED = Symbol('rate limited');

/**
 * Runs a step; a 429 from a rate limit comes back as a value, for the page to
 * say so: RATE_LIMITED, or the Turnstile challenge that can lift it.
 */
async function rateLimited<T>(step: () => Promise<T>): Promise<T | typeof RATE_LIMITED | ChallengeRequired> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof ChallengeRequired) return error;
    if (error instanceof OAuthError && error.code === 'too_many_requests') return RATE_LIMITED;
    throw error;
  }
}

/** A right password that may not sign in comes back as a value too, for the page to say why. */
function refusal(error: unknown): SignInRefused {
  if (error instanceof SignInRefused) return error;
  throw error;
}

/** A field of a form that failed validation, to fill the form in again. */
function rawField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' ? value.slice(0, EMAIL_MAX_LENGTH) : undefined;
}

pages.post('/login', ...formPost, async function signInForm(c) {
  const body = await c.req.parseBody();
  const form = loginForm.safeParse(body);
  if (!form.success) {
    const error = 'Enter your email and password.';
    return signInPage(c, { returnTo: safeReturnTo(body.return_to), email: rawField(body, 'email'), error }, 400);
  }
  const returnTo = safeReturnTo(form.data.return_to);
  const attempt = {
    ip: clientIp(c),
    network: clientNetwork(c),
    deviceToken: readDeviceCookie(c),
    canShowChallenge: true,
    turnstileToken: form.data['cf-turnstile-response'],
  };
  const accepted = await rateLimited(() => signIn(c.var.deps, form.data, attempt)).catch(refusal);
  if (accepted instanceof SignInRefused) {
    // The admin console: a disabled account, or one an admin asked to set a new password.
    const error =
      accepted.reason === 'disabled'
        ? 'This account is disabled. Ask an administrator.'
        : 'An administrator asked you to choose a new password: use Forgot password? to set one.';
    return signInPage(c, { returnTo, email: form.data.email, error }, 403);
  }
  if (accepted instanceof ChallengeRequired) {
    // Friction instead of refusal (OWASP): solving the challenge lets the password be checked.
    const error = 'Too many attempts for this account. Confirm you are a person, then sign in.';
    return signInPage(c, { returnTo, email: form.data.email, error, turnstileSiteKey: accepted.siteKey }, 429);
  }
  if (accepted === RATE_LIMITED) return rateLimitedSignIn(c, returnTo, form.data.email);
  if (!accepted) {
    // One message for an unknown email and a wrong password.
    return signInPage(c, { returnTo, email: form.data.email, error: 'Email or password is incorrect.' }, 401);
  }
  const { user } = accepted;
  // Two-factor on: no session yet. The sign-in waits for its code, bound to
  // this browser and to returnTo (routes/two-factor.tsx); every sign-in from
  // /login (the code flow's, the device flow's, a reauthentication) comes here.
  if (accepted.twoFactor) return askForSecondFactor(c, await beginPendingSignIn(c.var.deps, user.id, returnTo, AMR_PASSWORD));
  await startSession(c, user.id, AMR_PASSWORD);
  // This browser now knows the password: the account-wide limit will not hold it (OWASP device cookies).
  writeDeviceCookie(c, await deviceTokenFor(c.var.deps, user.email));
  return c.redirect(returnTo, 303);
});

pages.get('/signup', validatePage('query', pageQuery), function signupPage(c) {
  return c.html(<SignupPage csrf={csrfToken(c)} returnTo={safeReturnTo(c.req.valid('query').return_to)} />);
});

/**
 * The sign-up page's error. A refused password says why in a sentence of its
 * own ("This password is too common: …", NIST SP 800-63B §5.1.1.2 asks the
 * verifier to tell the user); other fields as every form says them.
 */
function signupError(issues: readonly z.core.$ZodIssue[]): string {
  const password = issues.find((issue) => issue.path[0] === 'password' && (issue.code === 'custom' || issue.code === 'too_big'));
  if (!password) return describeIssues(issues);
  const others = issues.filter((issue) => issue !== password);
  return `${others.length > 0 ? `${describeIssues(others)}. ` : ''}This password ${password.message}.`;
}

pages.post('/signup', ...formPost, async function createAccount(c) {
  const body = await c.req.parseBody();
  const form = await signupForm.safeParseAsync(body);
  const returnTo = safeReturnTo(body.return_to);
  const name = rawField(body, 'name');
  const email = rawField(body, 'email');
  if (!form.success) {
    const error = signupError(form.error.issues);
    return c.html(<SignupPage csrf={csrfToken(c)} returnTo={returnTo} name={name} email={email} error={error} />, 400);
  }
  const network = clientNetwork(c);
  const allowed = network ? await rateLimited(() => countAttempt(c.var.deps, 'signupNetwork', network)) : undefined;
  if (allowed === RATE_LIMITED) {
    const page = (
      <SignupPage
        csrf={csrfToken(c)}
        returnTo={returnTo}
        name={name}
        email={email}
        error="Too many sign-ups from here. Wait a minute and try again."
      />
    );
    return c.html(page, 429, { 'Retry-After': RETRY_AFTER });
  }
  const user = await signUp(c.var.deps, form.data);
  if (!user) {
    // Its owner is told by mail (after the response, like a new account's
    // verification mail), at most MAIL_ADDRESS_LIMITER a minute.
    afterResponse(c, mailOwnerOfTakenAddress(c.var.deps, form.data.email));
    const error = 'An account with this email already exists.';
    return c.html(<SignupPage csrf={csrfToken(c)} returnTo={returnTo} name={name} email={email} error={error} />, 409);
  }
  await startSession(c, user.id, AMR_PASSWORD);
  writeDeviceCookie(c, await deviceTokenFor(c.var.deps, user.email));
  // The email_verified claim stays false until the mailed link is followed (services/email-verification.ts).
  afterResponse(c, sendVerificationMail(c.var.deps, user));
  return c.redirect(returnTo, 303);
});

pages.post('/logout', ...formPost, loadSession, async function signOut(c) {
  await endSession(c);
  return c.redirect('/login', 303);
});
