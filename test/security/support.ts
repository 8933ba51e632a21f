import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import {
  authorizeUrl,
  Browser,
  createUser,
  formAction,
  hiddenFields,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  unique,
  userToken,
} from '../helpers';

/** Everything an attack test usually starts from: a fresh user, signed in, and a fresh client of their own. */
export interface Victim {
  user: TestUser;
  ownerToken: string;
  browser: Browser;
  client: RegisteredClient;
}

/** A fresh user (never shared between tests), signed in through the real login page, with a fresh client. */
export async function victim(metadata: Record<string, unknown> = {}): Promise<Victim> {
  const user = await createUser();
  const ownerToken = await userToken(user);
  const [browser, client] = await Promise.all([signedInBrowser(user), registerClient(ownerToken, metadata)]);
  return { user, ownerToken, browser, client };
}

/** The query of a valid authorization request for `client`, with a fresh PKCE pair and state. */
export async function authorizationRequest(client: RegisteredClient, overrides: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = await pkce();
  const state = unique('state');
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    scope: 'books:read',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
    ...overrides,
  };
  return { url: authorizeUrl(params), verifier, challenge, state };
}

/** Opens the consent page for `client` in `browser`; returns its HTML and the request's PKCE verifier and state. */
export async function openConsent(browser: Browser, client: RegisteredClient, overrides: Record<string, string | undefined> = {}) {
  const request = await authorizationRequest(client, overrides);
  const response = await browser.get(request.url);
  const html = await response.clone().text();
  expect(response.status, html.slice(0, 300)).toBe(200);
  expect(html).toContain('>Allow</button>');
  return { ...request, response, html, action: formAction(html), fields: hiddenFields(html) };
}

/** The CSRF token a page gave this browser (from its first form). */
export async function csrfOf(browser: Browser, path: string): Promise<string> {
  const html = await (await browser.get(path)).text();
  const token = hiddenFields(html).csrf_token;
  expect(token, `csrf token on ${path}`).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return token!;
}

/** Whether the browser's session is live: /account answers 200 to a signed-in browser, 302 to /login otherwise. */
export async function isSignedIn(browser: Browser): Promise<boolean> {
  const response = await browser.get('/account');
  await response.body?.cancel();
  expect([200, 302]).toContain(response.status);
  return response.status === 200;
}

/** The user's grant (consent) to the client, straight from D1, or null. */
export async function grantRow(userId: string, clientId: string): Promise<{ id: string; scope: string } | null> {
  return env.DB.prepare('select id, scope from grants where user_id = ? and client_id = ?').bind(userId, clientId).first();
}

/** How many authorization codes were ever issued to the client (D1). */
export async function codeCount(clientId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from codes where client_id = ?').bind(clientId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Whether an account with this email exists (D1). */
export async function accountExists(email: string): Promise<boolean> {
  const row = await env.DB.prepare('select count(*) as n from users where email = ?').bind(email.toLowerCase()).first<{ n: number }>();
  return (row?.n ?? 0) > 0;
}

/** Re-encodes one part of a JWT (header or payload) without touching its signature. */
export function tamperJwt(
  token: string,
  part: 'header' | 'payload',
  edit: (value: Record<string, unknown>) => Record<string, unknown>,
): string {
  const parts = token.split('.');
  const index = part === 'header' ? 0 : 1;
  const decoded = JSON.parse(atob(parts[index]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
  parts[index] = btoa(JSON.stringify(edit(decoded)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
  return parts.join('.');
}

/**
 * The headers RFC 9700 asks of every HTML page: no framing (§4.16), no Referer
 * (§4.2.4), and a CSP that allows no inline script or style.
 */
export function expectHardenedPage(response: Response, page: string): void {
  expect(response.headers.get('Content-Type'), page).toMatch(/^text\/html/);
  const csp = response.headers.get('Content-Security-Policy') ?? '';
  expect(csp, `${page}: CSP`).toMatch(/frame-ancestors 'none'/);
  expect(csp, `${page}: CSP`).not.toContain('unsafe-inline');
  expect(csp, `${page}: CSP`).not.toContain('unsafe-eval');
  expect(response.headers.get('X-Frame-Options'), `${page}: X-Frame-Options`).toBe('DENY');
  expect(response.headers.get('Referrer-Policy'), `${page}: Referrer-Policy`).toBe('no-referrer');
}

/**
 * Every kind of HTML page Tollgate serves, each fetched fresh (its own user,
 * client and browser). `csrf` marks the pages that carry a CSRF token.
 */
export const HTML_PAGES: Record<string, { csrf: boolean; load(): Promise<Response> }> = {
  'sign-in page': { csrf: true, load: () => new Browser().get('/login') },
  'sign-up page': { csrf: true, load: () => new Browser().get('/signup') },
  'failed sign-in page (401)': {
    csrf: true,
    async load() {
      const user = await createUser();
      const browser = new Browser();
      const token = await csrfOf(browser, '/login');
      const response = await browser.post('/login', { csrf_token: token, email: user.email, password: 'not the password' });
      expect(response.status).toBe(401);
      return response;
    },
  },
  'consent page': {
    csrf: true,
    async load() {
      const { browser, client } = await victim();
      return (await openConsent(browser, client)).response;
    },
  },
  'account page': {
    csrf: true,
    async load() {
      const { browser } = await victim();
      const response = await browser.get('/account');
      expect(response.status).toBe(200);
      return response;
    },
  },
  'RP logout confirmation page': {
    csrf: true,
    async load() {
      const { browser } = await victim();
      const response = await browser.get('/oauth2/logout');
      expect(response.status).toBe(200);
      return response;
    },
  },
  'signed-out page': {
    csrf: false,
    async load() {
      const response = await new Browser().get('/oauth2/logout');
      expect(response.status).toBe(200);
      return response;
    },
  },
  'authorization error page (unknown client)': {
    csrf: false,
    async load() {
      const response = await new Browser().get(
        `/oauth2/authorize?client_id=${unique('nobody')}&redirect_uri=https%3A%2F%2Fevil.example%2F`,
      );
      expect(response.status).toBe(400);
      return response;
    },
  },
  'CSRF refusal page (403)': {
    csrf: false,
    async load() {
      const response = await new Browser().post('/login', { email: 'a@example.com', password: 'whatever pw' });
      expect(response.status).toBe(403);
      return response;
    },
  },
  'demo client callback page (shows a code)': {
    csrf: false,
    async load() {
      const query = new URLSearchParams({ code: 'A'.repeat(43), state: 'st', iss: 'http://localhost:8787' });
      const response = await new Browser().get(`/demo/callback?${query}`);
      expect(response.status).toBe(200);
      return response;
    },
  },
  'demo single-page app (its redirect URI, receives a code)': {
    csrf: false,
    async load() {
      const query = new URLSearchParams({ code: 'A'.repeat(43), state: 'st', iss: 'http://localhost:8787' });
      const response = await new Browser().get(`/demo?${query}`);
      expect(response.status).toBe(200);
      return response;
    },
  },
};

/** How many pending authorization requests KV holds right now (every page of the listing). */
export async function authRequestsInKv(): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await env.KV.list({ prefix: 'authreq:', ...(cursor ? { cursor } : {}) });
    count += page.keys.length;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return count;
}
