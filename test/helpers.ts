import { SELF } from 'cloudflare:test';
import { expect } from 'vitest';

/** The issuer configured in wrangler.toml; tests call the Worker at this origin. */
export const ISSUER = 'http://localhost:8787';

let counter = 0;
/** A unique suffix, so tests never share users or clients. */
export function unique(prefix = 't'): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

const usedIps = new Set<string>();

/**
 * A client address (CF-Connecting-IP) no other call in this file has had, in
 * 10.0.0.0/8: rate-limit tests swap one shared 2-a-minute limiter in, so two
 * tests drawing the same address would count together (a draw from a few
 * hundred addresses did, and a test got 429 it did not cause).
 */
export function uniqueIp(): string {
  for (;;) {
    const [a, b, c] = crypto.getRandomValues(new Uint8Array(3));
    const ip = `10.${a}.${b}.${c}`;
    if (!usedIps.has(ip)) {
      usedIps.add(ip);
      return ip;
    }
  }
}

/** One request to the Worker, never following redirects. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(new URL(path, ISSUER).href, { redirect: 'manual', ...init });
}

export function json(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return call(path, {
    method: 'POST',
    ...init,
    headers: { 'Content-Type': 'application/json', ...(init.headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
}

export function form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** A browser in miniature: keeps cookies, never follows redirects on its own. */
export class Browser {
  readonly cookies = new Map<string, string>();

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) {
      headers.set('Cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    }
    const response = await call(path, { ...init, headers });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /max-age=0\b/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(path: string): Promise<Response> {
    return this.fetch(path);
  }

  post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Loads a page, fills its form's hidden fields plus `fields`, and submits it. */
  async submit(pagePath: string, fields: Record<string, string>): Promise<Response> {
    const page = await this.get(pagePath);
    expect(page.status).toBe(200);
    const html = await page.text();
    return this.post(formAction(html), { ...hiddenFields(html), ...fields });
  }
}

/** The hidden inputs of the first form on a page. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[match[1]!] = decodeEntities(match[2]!);
  }
  return fields;
}

/** The action of the page's first POST form, or of the first whose action matches `pattern` (a page such as /account has several). */
export function formAction(html: string, pattern?: RegExp): string {
  for (const match of html.matchAll(/<form method="post" action="([^"]+)"/g)) {
    const action = decodeEntities(match[1]!);
    if (!pattern || pattern.test(action)) return action;
  }
  throw new Error(pattern ? `no form on the page posts to ${pattern}` : 'no form on the page');
}

/** /account's Revoke form of an authorized app. */
export const APP_REVOKE_ACTION = /^\/account\/apps\/[^/]+\/revoke$/;

function decodeEntities(text: string): string {
  return text
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** An input's label text is present and points at an input with that id. */
export function expectLabelledField(html: string, label: string): void {
  const match = new RegExp(`<label for="([^"]+)">${label}</label>`).exec(html);
  expect(match, `label ${label}`).not.toBeNull();
  expect(html).toContain(`id="${match![1]}"`);
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
  name: string;
}

export async function createUser(overrides: Partial<TestUser> = {}): Promise<TestUser> {
  const user = { email: `${unique('user')}@example.com`, password: 'correct horse battery', name: 'Ada Reader', ...overrides };
  const response = await json('/api/users', user);
  expect(response.status).toBe(201);
  const body = (await response.json()) as { id: string };
  return { ...user, id: body.id };
}

export async function userToken(user: TestUser): Promise<string> {
  const response = await json('/api/login', { email: user.email, password: user.password });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  [key: string]: unknown;
}

export const REDIRECT_URI = 'https://app.example.com/callback';

export async function registerClient(token: string, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await json(
    '/oauth2/register',
    { client_name: 'Reading List', redirect_uris: [REDIRECT_URI], ...metadata },
    { headers: { Authorization: `Bearer ${token}` } },
  );
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as RegisteredClient;
}

/** A PKCE pair (RFC 7636): a random verifier and its S256 challenge. */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  return { verifier, challenge };
}

export function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

export function authorizeUrl(params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, value);
  return `/oauth2/authorize?${query}`;
}

/**
 * A code-flow authorization request (PKCE S256, scope openid, state `s`) for
 * `client`'s first redirect URI; `extra` adds or overrides parameters. The
 * URL, and the verifier that redeems its code.
 */
export async function codeFlowRequest(
  client: RegisteredClient,
  extra: Record<string, string | undefined> = {},
): Promise<{ url: string; verifier: string }> {
  const { verifier, challenge } = await pkce();
  const url = authorizeUrl({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    scope: 'openid',
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier };
}

/** A browser signed in as `user` through the real login page. */
export async function signedInBrowser(user: TestUser): Promise<Browser> {
  const browser = new Browser();
  const response = await browser.submit('/login', { email: user.email, password: user.password });
  expect(response.status).toBe(303);
  return browser;
}

export interface Authorization {
  code: string;
  verifier: string;
  redirectUri: string;
  state: string;
  location: URL;
}

/**
 * Runs GET /oauth2/authorize as a signed-in browser and answers the consent page.
 * `prompt=consent` makes the page appear even when the user approved the
 * client before (remembered consent). Returns the code from the redirect.
 */
export async function authorizeWithConsent(
  browser: Browser,
  client: RegisteredClient,
  options: { scope?: string; nonce?: string; redirectUri?: string; resource?: string[] } = {},
): Promise<Authorization> {
  const { verifier, challenge } = await pkce();
  const state = unique('state');
  const redirectUri = options.redirectUri ?? client.redirect_uris[0]!;
  // RFC 8707 §2: `resource` repeats, once per resource.
  const resources = (options.resource ?? []).map((resource) => `&resource=${encodeURIComponent(resource)}`).join('');
  const consent = await browser.get(
    `${authorizeUrl({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: redirectUri,
      scope: options.scope ?? 'openid books:read books:write',
      state,
      nonce: options.nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    })}${resources}`,
  );
  expect(consent.status, 'consent page').toBe(200);
  const html = await consent.text();
  const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
  expect(decision.status).toBe(303);
  const location = new URL(decision.headers.get('Location')!);
  return { code: location.searchParams.get('code')!, verifier, redirectUri, state, location };
}

export function basic(id: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value);
  return `Basic ${btoa(`${encode(id)}:${encode(secret)}`)}`;
}

/** The form fields of an authorization_code token request for `authorization` (RFC 6749 §4.1.3, RFC 7636 §4.5). */
export function codeFields(
  authorization: Pick<Authorization, 'code' | 'redirectUri' | 'verifier'>,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    code: authorization.code,
    redirect_uri: authorization.redirectUri,
    code_verifier: authorization.verifier,
    ...overrides,
  };
}

/** Trades a code at the token endpoint with client_secret_basic (or none for public clients). */
export function redeem(client: RegisteredClient, authorization: Authorization, overrides: Record<string, string> = {}) {
  const fields = codeFields(authorization, overrides);
  if (client.client_secret) return form('/oauth2/token', fields, { Authorization: basic(client.client_id, client.client_secret) });
  return form('/oauth2/token', { client_id: client.client_id, ...fields });
}

/** Decodes a JWT's header and payload without verifying (tests verify separately). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))));
  return { header, payload };
}

/**
 * An RFC 6749 §5.2 style JSON error: the status, the `error` code, JSON, and
 * `Cache-Control: no-store`. Returns the parsed body.
 */
export async function expectJsonError(response: Response, status: number, error: string): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body.error, text).toBe(error);
  return body;
}

/** The HTML error page: the status, HTML, and never a redirect. Returns the page. */
export async function expectErrorPage(response: Response, status = 400): Promise<string> {
  const html = await response.text();
  expect(response.status, html.slice(0, 500)).toBe(status);
  expect(response.headers.get('Location')).toBeNull();
  expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
  expect(html).toContain('role="alert"');
  return html;
}

/**
 * An error sent back to the client's redirect URI (RFC 6749 §4.1.2.1, RFC 9207):
 * the status, the exact redirect URI, `error`, `state` and `iss`, and no `code`.
 */
export function expectErrorRedirect(
  response: Response,
  options: { status: number; redirectUri: string; error: string; state: string | null },
): URL {
  expect(response.status).toBe(options.status);
  const location = response.headers.get('Location');
  expect(location).not.toBeNull();
  const url = new URL(location!);
  expect(url.origin + url.pathname).toBe(options.redirectUri);
  expect(url.searchParams.get('error')).toBe(options.error);
  expect(url.searchParams.get('state')).toBe(options.state);
  expect(url.searchParams.get('iss')).toBe(ISSUER);
  expect(url.searchParams.has('code')).toBe(false);
  return url;
}

export interface TokenResponseBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  id_token?: string;
  [key: string]: unknown;
}

/** Authorizes with consent in `browser` and trades the code: the token response. */
export async function issueTokens(
  browser: Browser,
  client: RegisteredClient,
  options: { scope?: string; nonce?: string; resource?: string[] } = {},
): Promise<TokenResponseBody> {
  const authorization = await authorizeWithConsent(browser, client, options);
  const response = await redeem(client, authorization);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as TokenResponseBody;
}

/** `Authorization: Bearer <token>`. */
export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/**
 * A POST to the token, revocation or introspection endpoint as `client`:
 * client_secret_basic for a confidential client, client_id alone (`none`) for a public one.
 */
export function postAsClient(
  path: string,
  client: RegisteredClient,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  if (client.client_secret) return form(path, fields, { Authorization: basic(client.client_id, client.client_secret), ...headers });
  return form(path, { client_id: client.client_id, ...fields }, headers);
}

/** POST /oauth2/introspect as `client`: asserts 200, JSON and no-store; returns the body. */
export async function introspectAs(
  client: RegisteredClient,
  token: string,
  fields: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await postAsClient('/oauth2/introspect', client, { token, ...fields });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  return JSON.parse(text) as Record<string, unknown>;
}

/** POST /oauth2/revoke as `client`: asserts RFC 7009 §2.2's 200 with an empty body and no-store. */
export async function revokeAs(client: RegisteredClient, token: string, fields: Record<string, string> = {}): Promise<void> {
  const response = await postAsClient('/oauth2/revoke', client, { token, ...fields });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(text).toBe('');
  expect(response.headers.get('Cache-Control')).toBe('no-store');
}

/** A refresh_token grant request as `client` (the response, unchecked). */
export function refreshAs(client: RegisteredClient, refreshToken: string, fields: Record<string, string> = {}): Promise<Response> {
  return postAsClient('/oauth2/token', client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...fields });
}

/** The SHA-256 (base64url) of a secret: the key under which D1 stores codes and refresh tokens. */
export async function storedHash(secret: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret))));
}

/** A mail as GET /dev/mailbox lists it (Accept: application/json; SPEC, Wave 2). */
export interface DevMail {
  to: string;
  subject: string;
  text: string;
  links: string[];
  sent_at: number;
}

/** The mails kept for `to` at /dev/mailbox, newest first (the test env sets DEV_MAILBOX=true). */
export async function mailTo(to: string): Promise<DevMail[]> {
  const response = await call(`/dev/mailbox?to=${encodeURIComponent(to)}`, { headers: { Accept: 'application/json' } });
  expect(response.status).toBe(200);
  return (await response.json()) as DevMail[];
}

/**
 * Waits (at most 5 s) for `count` mails to `to` whose subject contains
 * `subject`: mail is sent after the response (waitUntil). Newest first.
 */
export async function awaitMail(to: string, subject: string, count = 1): Promise<DevMail[]> {
  for (let tries = 0; ; tries++) {
    const mails = (await mailTo(to)).filter((mail) => mail.subject.includes(subject));
    if (mails.length >= count || tries >= 50) {
      expect(mails.length, `mails to ${to} about "${subject}"`).toBeGreaterThanOrEqual(count);
      return mails;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The path and query of the first link of a mail that goes to `path` on the issuer. */
export function mailedLink(mail: DevMail, path: string): string {
  const link = mail.links.find((candidate) => candidate.startsWith(`${ISSUER}${path}?`));
  expect(link, `a ${path} link in "${mail.subject}"`).toBeDefined();
  const url = new URL(link!);
  return url.pathname + url.search;
}
