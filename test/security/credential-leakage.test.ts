import { describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  basic,
  bearer,
  call,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  issueTokens,
  json,
  postAsClient,
  redeem,
  registerClient,
  type TokenResponseBody,
} from '../helpers';
import { HTML_PAGES, openConsent, victim } from './support';

/** Every URL a page makes the browser load or follow (src, href, action). */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href|action)="([^"]*)"/g)].map((match) => match[1]!.replace(/&amp;/g, '&'));
}

function expectNoStore(response: Response): void {
  expect(response.headers.get('Cache-Control')).toBe('no-store');
}

describe('credential leakage via Referer (RFC 9700 §4.2.4)', () => {
  it.each(Object.keys(HTML_PAGES))('§4.2.4: the %s sends no Referer anywhere (Referrer-Policy: no-referrer)', async (name) => {
    const response = await HTML_PAGES[name]!.load();
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
  });

  it('§4.2.4: the demo callback page, which shows a code, loads nothing from another origin', async () => {
    const code = 'Q'.repeat(43);
    const response = await call(`/demo/callback?${new URLSearchParams({ code, state: 'st', iss: ISSUER })}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
    expectNoStore(response);
    const html = await response.text();
    expect(html).toContain(code);
    for (const url of referencedUrls(html)) expect(new URL(url, ISSUER).origin, url).toBe(ISSUER);
  });

  it('§4.2.4: the consent page loads nothing from another origin, and its request id never reaches one', async () => {
    const { browser, client } = await victim();
    const consent = await openConsent(browser, client);
    expect(consent.response.headers.get('Referrer-Policy')).toBe('no-referrer');
    for (const url of referencedUrls(consent.html)) expect(new URL(url, ISSUER).origin, url).toBe(ISSUER);
  });

  it('§4.2.4: the redirect that carries the code to the client also says no-referrer', async () => {
    const { browser, client } = await victim();
    const consent = await openConsent(browser, client);
    const response = await browser.post(consent.action, { ...consent.fields, decision: 'allow' });
    expect(response.status).toBe(303);
    expect(new URL(response.headers.get('Location')!).searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
  });
});

describe('no caching of secrets (RFC 6749 §5.1, RFC 9700 §4.2.4)', () => {
  it.each(Object.keys(HTML_PAGES).filter((name) => HTML_PAGES[name]!.csrf))(
    'the %s carries a CSRF token: Cache-Control no-store',
    async (name) => {
      const response = await HTML_PAGES[name]!.load();
      expect(await response.clone().text()).toMatch(/name="csrf_token" value="[A-Za-z0-9_-]{43}"/);
      expectNoStore(response);
    },
  );

  it('RFC 6749 §5.1: the authorization_code token response is no-store and Pragma no-cache', async () => {
    const { browser, client } = await victim({ grant_types: ['authorization_code', 'refresh_token'] });
    const response = await redeem(client, await authorizeWithConsent(browser, client, { scope: 'openid books:read' }));
    expect(response.status).toBe(200);
    expectNoStore(response);
    expect(response.headers.get('Pragma')).toBe('no-cache');
    const body = (await response.json()) as TokenResponseBody & { refresh_token?: string };
    expect(body.refresh_token).toBeDefined();
    expect(body.id_token).toBeDefined();
  });

  it('RFC 6749 §5.1: the refresh_token token response is no-store', async () => {
    const { browser, client } = await victim({ grant_types: ['authorization_code', 'refresh_token'] });
    const tokens = (await issueTokens(browser, client, { scope: 'books:read' })) as TokenResponseBody & { refresh_token: string };
    const response = await postAsClient('/oauth2/token', client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(response.status).toBe(200);
    expectNoStore(response);
    expect(response.headers.get('Pragma')).toBe('no-cache');
  });

  it('RFC 6749 §5.1: the client_credentials token response is no-store', async () => {
    const { ownerToken } = await victim();
    const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [] });
    const response = await form(
      '/oauth2/token',
      { grant_type: 'client_credentials', scope: 'books:read' },
      { Authorization: basic(machine.client_id, machine.client_secret!) },
    );
    expect(response.status, await response.clone().text()).toBe(200);
    expectNoStore(response);
  });

  it('RFC 6749 §5.2: token errors are no-store too', async () => {
    const { client } = await victim();
    const response = await postAsClient('/oauth2/token', client, {
      grant_type: 'authorization_code',
      code: 'A'.repeat(43),
      redirect_uri: client.redirect_uris[0]!,
      code_verifier: 'B'.repeat(43),
    });
    await expectJsonError(response, 400, 'invalid_grant');
  });

  it('the user API token from /api/login is no-store', async () => {
    const user = await createUser();
    const response = await json('/api/login', { email: user.email, password: user.password });
    expect(response.status).toBe(200);
    expectNoStore(response);
  });

  it('RFC 7662 §2.2 and OIDC userinfo: what a token reveals is no-store', async () => {
    const { browser, client } = await victim();
    const tokens = await issueTokens(browser, client, { scope: 'openid books:read' });
    const introspection = await postAsClient('/oauth2/introspect', client, { token: tokens.access_token });
    expect(introspection.status).toBe(200);
    expect(await introspection.clone().json()).toMatchObject({ active: true });
    expectNoStore(introspection);
    const userinfo = await call('/oauth2/userinfo', { headers: bearer(tokens.access_token) });
    expect(userinfo.status).toBe(200);
    expectNoStore(userinfo);
  });
});
