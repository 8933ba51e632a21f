import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  createUser,
  expectErrorPage,
  expectJsonError,
  ISSUER,
  json,
  REDIRECT_URI,
  type RegisteredClient,
  redeem,
  userToken,
} from '../helpers';
import { authorizationRequest, codeCount, victim } from './support';

/**
 * RFC 9700 §4.1.3: redirect URIs are compared as exact strings. Every attack
 * below runs against a user who already approved the client (remembered
 * consent), so a lax match would hand the attacker a code at once.
 * A refused request changes nothing, so each table of refusals shares one
 * such user and client (made for that table alone); every test that gets a
 * code has its own.
 */
async function consentedVictim(metadata: Record<string, unknown> = {}) {
  const v = await victim(metadata);
  await authorizeWithConsent(v.browser, v.client, { scope: 'books:read' });
  return v;
}

async function expectRefused(browser: Browser, client: RegisteredClient, redirectUri: string): Promise<void> {
  const codesBefore = await codeCount(client.client_id);
  const request = await authorizationRequest(client, { redirect_uri: redirectUri, prompt: undefined });
  const html = await expectErrorPage(await browser.get(request.url), 400);
  expect(html).toContain('Invalid redirect');
  expect(await codeCount(client.client_id)).toBe(codesBefore);
}

async function expectCodeAt(browser: Browser, client: RegisteredClient, redirectUri: string): Promise<URL> {
  const request = await authorizationRequest(client, { redirect_uri: redirectUri, prompt: undefined });
  const response = await browser.get(request.url);
  expect(response.status, await response.clone().text()).toBe(302);
  const location = response.headers.get('Location')!;
  expect(location.startsWith(redirectUri.includes('?') ? `${redirectUri}&` : `${redirectUri}?`), location).toBe(true);
  const url = new URL(location);
  expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(url.searchParams.get('iss')).toBe(ISSUER);
  return url;
}

describe('redirect URI manipulation against https://app.example.com/callback (RFC 9700 §4.1)', () => {
  let target: Awaited<ReturnType<typeof consentedVictim>>;
  beforeAll(async () => {
    target = await consentedVictim();
  });

  it.each([
    ['a prefix of the path', 'https://app.example.com/callbac'],
    ['the bare origin', 'https://app.example.com'],
    ['the origin with a slash', 'https://app.example.com/'],
    ['a suffix on the path', 'https://app.example.com/callbackx'],
    ['a suffix on the host', 'https://app.example.com.evil.example/callback'],
    ['a host that merely ends alike', 'https://evilapp.example.com/callback'],
    ['a subdomain', 'https://evil.app.example.com/callback'],
    ['an extra path segment', 'https://app.example.com/callback/evil'],
    ['path traversal out of the path', 'https://app.example.com/callback/../evil'],
    ['encoded path traversal', 'https://app.example.com/callback/%2e%2e/evil'],
    ['encoded slash traversal', 'https://app.example.com/callback/..%2Fevil'],
    ['a traversal that normalises to the registered URI', 'https://app.example.com/evil/../callback'],
    ['an upper-case host', 'https://APP.example.com/callback'],
    ['an upper-case scheme', 'HTTPS://app.example.com/callback'],
    ['an upper-case path', 'https://app.example.com/Callback'],
    ['userinfo naming the real host before @', 'https://app.example.com@evil.example/callback'],
    ['userinfo in front of the real host', 'https://evil.example@app.example.com/callback'],
    ['an empty password in userinfo', 'https://app.example.com:@evil.example/callback'],
    ['a percent-encoded path character', 'https://app.example.com/%63allback'],
    ['a percent-encoded dot in the host', 'https://app%2Eexample.com/callback'],
    ['an encoded trailing slash', 'https://app.example.com/callback%2F'],
    ['an encoded NUL', 'https://app.example.com/callback%00'],
    ['an encoded fragment', 'https://app.example.com/callback%23x'],
    ['a backslash for the slash', 'https://app.example.com\\callback'],
    ['an extra query', 'https://app.example.com/callback?x=1'],
    ['an empty query', 'https://app.example.com/callback?'],
    ['a fragment', 'https://app.example.com/callback#x'],
    ['an empty fragment', 'https://app.example.com/callback#'],
    ['a trailing slash', 'https://app.example.com/callback/'],
    ['a trailing dot on the host', 'https://app.example.com./callback'],
    ['the default port spelt out', 'https://app.example.com:443/callback'],
    ['another port', 'https://app.example.com:8443/callback'],
    ['http instead of https', 'http://app.example.com/callback'],
    ['leading whitespace', ' https://app.example.com/callback'],
    ['trailing whitespace', 'https://app.example.com/callback '],
    ['a homoglyph host (Cyrillic а)', 'https://\u0430pp.example.com/callback'],
  ])('§4.1.3: refuses %s (%s) with the error page and no code', async (_kind, uri) => {
    await expectRefused(target.browser, target.client, uri);
  });

  it('§4.1.3: the exact registered URI still gets its code (the refusals above are not vacuous)', async () => {
    const { browser, client } = await consentedVictim();
    await expectCodeAt(browser, client, REDIRECT_URI);
  });
});

describe('redirect URI manipulation against a registered URI with a query (RFC 9700 §4.1.3)', () => {
  const registered = 'https://app.example.com/cb?tenant=1';
  let target: Awaited<ReturnType<typeof consentedVictim>>;
  beforeAll(async () => {
    target = await consentedVictim({ redirect_uris: [registered] });
  });

  it.each([
    ['another value', 'https://app.example.com/cb?tenant=2'],
    ['the parameter repeated', 'https://app.example.com/cb?tenant=1&tenant=2'],
    ['an extra parameter', 'https://app.example.com/cb?tenant=1&next=https://evil.example'],
    ['no query', 'https://app.example.com/cb'],
    ['an upper-case name', 'https://app.example.com/cb?TENANT=1'],
    ['an encoded value', 'https://app.example.com/cb?tenant=%31'],
  ])('§4.1.3: refuses %s (%s)', async (_kind, uri) => {
    await expectRefused(target.browser, target.client, uri);
  });

  it('§4.1.3: the exact URI gets its code with its own query kept', async () => {
    const { browser, client } = await consentedVictim({ redirect_uris: [registered] });
    const url = await expectCodeAt(browser, client, registered);
    expect(url.searchParams.getAll('tenant')).toEqual(['1']);
  });
});

describe('loopback redirect URIs (RFC 8252 §7.3, RFC 9700 §4.1.3)', () => {
  // A confidential client: matching is the same for every client, and a public
  // one on a loopback URI never gets a code without the consent page (RFC 8252
  // §8.6: native-client-silent-codes.test.ts), which expectCodeAt does not answer.
  const LOOPBACK = {
    redirect_uris: ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'http://localhost:8080/cb'],
  };
  let target: Awaited<ReturnType<typeof consentedVictim>>;
  beforeAll(async () => {
    target = await consentedVictim(LOOPBACK);
  });

  it.each(['http://127.0.0.1:51234/cb', 'http://127.0.0.1/cb', 'http://[::1]:4000/cb'])(
    'RFC 8252 §7.3: only the port may vary on a loopback IP literal: %s gets a code',
    async (uri) => {
      const { browser, client } = await consentedVictim(LOOPBACK);
      await expectCodeAt(browser, client, uri);
    },
  );

  it.each([
    ['localhost on another port (the exception is for IP literals only)', 'http://localhost:4000/cb'],
    ['localhost upper-cased', 'http://LOCALHOST:8080/cb'],
    ['localhost with a trailing dot', 'http://localhost.:8080/cb'],
    ['localhost for a registered IP literal', 'http://localhost:51234/cb'],
    ['another path on the loopback IP', 'http://127.0.0.1:51234/callback'],
    ['an extra path segment', 'http://127.0.0.1:51234/cb/evil'],
    ['path traversal', 'http://127.0.0.1:51234/cb/../evil'],
    ['an upper-case path', 'http://127.0.0.1:51234/CB'],
    ['an extra query', 'http://127.0.0.1:51234/cb?x=1'],
    ['a fragment', 'http://127.0.0.1:51234/cb#x'],
    ['a trailing slash', 'http://127.0.0.1:51234/cb/'],
    ['https instead of http', 'https://127.0.0.1:8080/cb'],
    ['another loopback address', 'http://127.0.0.2:8080/cb'],
    ['a short-form IPv4 literal', 'http://127.1:8080/cb'],
    ['a decimal IPv4 literal', 'http://2130706433:8080/cb'],
    ['a hex IPv4 literal', 'http://0x7f.0.0.1:8080/cb'],
    ['a zero-padded port', 'http://127.0.0.1:08080/cb'],
    ['a host that starts like the IP', 'http://127.0.0.1.evil.example:8080/cb'],
    ['userinfo naming the IP before @', 'http://127.0.0.1:8080@evil.example/cb'],
    ['userinfo in front of the IP', 'http://evil.example@127.0.0.1:51234/cb'],
    ['the long form of ::1', 'http://[0:0:0:0:0:0:0:1]:4000/cb'],
    ['an IPv4-mapped ::1', 'http://[::ffff:127.0.0.1]:4000/cb'],
  ])('RFC 8252 §7.3: refuses %s (%s)', async (_kind, uri) => {
    await expectRefused(target.browser, target.client, uri);
  });

  it('RFC 8252 §7.3: localhost on its registered port is accepted, exactly', async () => {
    const { browser, client } = await consentedVictim(LOOPBACK);
    await expectCodeAt(browser, client, 'http://localhost:8080/cb');
  });

  it('RFC 6749 §4.1.3: a code sent to an ephemeral loopback port is redeemed only with that exact URI', async () => {
    const { browser, client } = await consentedVictim(LOOPBACK);
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read', redirectUri: 'http://127.0.0.1:51234/cb' });
    expect(code.location.port).toBe('51234');
    await expectJsonError(await redeem(client, code, { redirect_uri: 'http://127.0.0.1:8080/cb' }), 400, 'invalid_grant');
    const response = await redeem(client, code);
    expect(response.status, await response.clone().text()).toBe(200);
  });
});

describe('redirect URIs that can never be registered (RFC 9700 §4.1.1, RFC 6749 §3.1.2)', () => {
  let ownerToken: string;
  beforeAll(async () => {
    ownerToken = await userToken(await createUser());
  });

  it.each([
    ['a fragment', 'https://app.example.com/callback#frag'],
    ['userinfo', 'https://user@app.example.com/callback'],
    ['plain http to a remote host', 'http://app.example.com/callback'],
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,hi'],
    ['a relative path', '/callback'],
    ['a backslash', 'https://app.example.com\\callback'],
  ])('RFC 6749 §3.1.2: registration refuses %s (%s) with invalid_redirect_uri', async (_kind, uri) => {
    const response = await json(
      '/oauth2/register',
      { client_name: 'Bad', redirect_uris: [uri] },
      { headers: { Authorization: `Bearer ${ownerToken}` } },
    );
    await expectJsonError(response, 400, 'invalid_redirect_uri');
  });

  it('§4.1.1: a registered URI with a wildcard is a literal string, never a pattern', async () => {
    const wildcard = 'https://*.example.com/callback';
    const { browser, client } = await consentedVictim({ redirect_uris: [wildcard] });
    expect(client.redirect_uris).toEqual([wildcard]);
    await expectRefused(browser, client, 'https://evil.example.com/callback');
    await expectRefused(browser, client, 'https://app.example.com/callback');
  });
});
