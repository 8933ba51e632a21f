import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { type Browser, hiddenFields, ISSUER, unique } from './helpers';

// Driving an upstream sign-in against the stand-in providers
// (test/stand-ins/upstream-provider.js, configured in vitest.config.ts):
// `idp` (https://idp.example), `idp-two` (https://idp2.example) and `gh` (GitHub).

/** Who signs in at an OpenID stand-in. */
export interface OidcUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

/** A fresh OpenID user with a verified email. */
export function oidcUser(overrides: Partial<OidcUser> = {}): OidcUser {
  const sub = unique('sub');
  return { sub, email: `${sub}@upstream.example`, email_verified: true, name: 'Grace Upstream', ...overrides };
}

/** Presses "Continue with …" on /login; returns the provider's authorization URL the browser is sent to. */
export async function startUpstream(browser: Browser, provider = 'idp', returnTo?: string): Promise<URL> {
  const page = await browser.get(`/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
  expect(page.status).toBe(200);
  const html = await page.text();
  const fields = hiddenFields(html);
  const response = await browser.post(`/login/upstream/${provider}`, { csrf_token: fields.csrf_token!, return_to: returnTo ?? '/account' });
  expect(response.status, await response.clone().text()).toBe(303);
  return new URL(response.headers.get('Location')!);
}

/**
 * The user signs in at the provider (the stand-in answers at once): the
 * callback path and query the provider sends the browser back to.
 */
export async function answerAtProvider(authorization: URL, user: unknown, tamper?: Record<string, unknown>): Promise<string> {
  const url = new URL(authorization);
  url.searchParams.set('user', JSON.stringify(user));
  if (tamper) url.searchParams.set('tamper', JSON.stringify(tamper));
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status, await response.clone().text()).toBe(302);
  const callback = new URL(response.headers.get('Location')!);
  expect(callback.origin).toBe(ISSUER);
  return callback.pathname + callback.search;
}

/** A whole upstream sign-in in `browser`; returns the callback's response. */
export async function upstreamSignIn(browser: Browser, user: unknown, options: { provider?: string; returnTo?: string } = {}) {
  const authorization = await startUpstream(browser, options.provider, options.returnTo);
  return browser.get(await answerAtProvider(authorization, user));
}

export async function userByEmail(email: string) {
  return env.DB.prepare('SELECT id, name, email_verified_at, password_hash FROM users WHERE email = ?')
    .bind(email.toLowerCase())
    .first<{ id: string; name: string; email_verified_at: number | null; password_hash: string }>();
}

export async function identitiesOf(userId: string) {
  const { results } = await env.DB.prepare('SELECT provider_id, subject, email FROM user_identities WHERE user_id = ?').bind(userId).all();
  return results as { provider_id: string; subject: string; email: string | null }[];
}

export async function identityOf(provider: string, subject: string) {
  return env.DB.prepare('SELECT user_id FROM user_identities WHERE provider_id = ? AND subject = ?')
    .bind(provider, subject)
    .first<{ user_id: string }>();
}

/** Whether the browser has a live session (GET /account answers the page, not a redirect to sign in). */
export async function isSignedIn(browser: Browser): Promise<boolean> {
  return (await browser.get('/account')).status === 200;
}
