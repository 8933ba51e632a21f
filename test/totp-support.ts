import { decodeBase32IgnorePadding } from '@oslojs/encoding';
import { generateHOTP } from '@oslojs/otp';
import { expect } from 'vitest';
import { type Browser, hiddenFields, type TestUser } from './helpers';

// Two-factor tests compute codes the way an authenticator app does (RFC 6238
// with @oslojs/otp), from the secret the setup page shows.

/** The time step now (RFC 6238 §4.2, X = 30 s). */
export function stepNow(): number {
  return Math.floor(Date.now() / 1000 / 30);
}

/** An authenticator app in miniature: the key, and the last step it gave a code for (each step's code works once). */
export class Authenticator {
  readonly key: Uint8Array;
  lastStep = 0;

  constructor(readonly secret: string) {
    this.key = decodeBase32IgnorePadding(secret);
  }

  /** The code for `step`. */
  codeAt(step: number): string {
    return generateHOTP(this.key, BigInt(step), 6);
  }

  /**
   * A code the server has not seen yet: for the step after the last one used,
   * or the oldest one the server accepts (now - 1), whichever is later.
   *
   * The server takes now - 1 to now + 1 (RFC 6238 §5.2, one step of drift)
   * at the moment the request arrives. A code for now - 1 handed out in a
   * step's last seconds can arrive in the next step, already too old; so then
   * the oldest offered is now. A code past now + 1 is waited for (at most a few
   * seconds): a test needs at most three codes per 30 seconds.
   */
  async nextCode(): Promise<string> {
    const secondsLeft = 30 - ((Date.now() / 1000) % 30);
    const oldest = stepNow() - (secondsLeft > LATE_IN_STEP_SECONDS ? 1 : 0);
    const step = Math.max(this.lastStep + 1, oldest);
    const wait = (step - 1) * 30_000 - Date.now();
    expect(wait, 'a test asked for more codes than the drift window holds').toBeLessThanOrEqual(LATE_IN_STEP_SECONDS * 1000);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 50));
    this.lastStep = step;
    return this.codeAt(step);
  }
}

/** How close to a step's end a code for the step before is no longer offered: a request on a loaded machine takes this long at most. */
const LATE_IN_STEP_SECONDS = 5;

/** What setup showed. */
export interface TwoFactorSetup {
  app: Authenticator;
  recoveryCodes: string[];
  html: string;
}

/** The CSRF token of the page at `path` (every form on a page carries the same one). */
export async function csrfOf(browser: Browser, path: string): Promise<string> {
  const page = await browser.get(path);
  expect(page.status).toBe(200);
  const token = hiddenFields(await page.text()).csrf_token;
  expect(token).toBeTruthy();
  return token!;
}

/** Presses Set up two-factor on /account; returns the secret (as an app) and the recovery codes the page showed. */
export async function startSetup(browser: Browser): Promise<TwoFactorSetup> {
  const response = await browser.post('/account/two-factor/setup', { csrf_token: await csrfOf(browser, '/account') });
  expect(response.status).toBe(200);
  const html = await response.text();
  const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(html)?.[1];
  expect(secret, 'the secret as base32 text').toBeTruthy();
  const recoveryCodes = [...html.matchAll(/<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})<\/code><\/li>/g)].map((match) => match[1]!);
  return { app: new Authenticator(secret!), recoveryCodes, html };
}

/** Sets two-factor up and confirms it with a computed code. */
export async function turnOnTwoFactor(browser: Browser): Promise<TwoFactorSetup> {
  const setup = await startSetup(browser);
  const confirmed = await browser.post('/account/two-factor/confirm', {
    csrf_token: hiddenFields(setup.html).csrf_token!,
    code: await setup.app.nextCode(),
  });
  expect(confirmed.status, await confirmed.clone().text()).toBe(303);
  expect(confirmed.headers.get('Location')).toBe('/account');
  return setup;
}

/** The password step of /login: for a user with two-factor on, 303 to the code page and no session yet. */
export async function enterPassword(browser: Browser, user: TestUser, returnTo?: string, headers: Record<string, string> = {}) {
  const page = await browser.get(returnTo ? `/login?return_to=${encodeURIComponent(returnTo)}` : '/login');
  const html = await page.text();
  return browser.post('/login', { ...hiddenFields(html), email: user.email, password: user.password }, headers);
}

/** The code step: the Code page's form with `code`. */
export async function enterCode(browser: Browser, code: string, headers: Record<string, string> = {}) {
  const page = await browser.get('/login/two-factor');
  expect(page.status).toBe(200);
  const html = await page.text();
  return browser.post('/login/two-factor', { ...hiddenFields(html), code }, headers);
}
