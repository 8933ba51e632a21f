import { env } from 'cloudflare:test';
import { EncryptJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { AUTH_REQUEST_COOKIE_LIMIT, AUTH_REQUEST_TTL } from '../../src/config';
import { createDeps } from '../../src/deps';
import { getKeySet } from '../../src/services/keys';
import { Browser, call, expectErrorPage, expectErrorRedirect, formAction, hiddenFields, ISSUER, redeem, unique } from '../helpers';
import { authorizationRequest, authRequestsInKv, codeCount, victim } from './support';

/**
 * Issue 11, finding 6: every signed-out GET /oauth2/authorize stored a
 * 10-minute `authreq:` entry in KV, so anyone could make Tollgate write to KV
 * at will (OWASP API4:2023, unrestricted resource consumption). Now nothing is
 * stored for a browser that has to sign in first: the validated request goes
 * with the browser, sealed (AES-256-GCM) in an HttpOnly cookie, and comes back
 * with it from /login. The consent stage (a signed-in user) still uses KV.
 */

/** The pending-request cookies a browser holds: name → value. */
function pendingCookies(browser: Browser): Map<string, string> {
  return new Map([...browser.cookies].filter(([name]) => name.startsWith('tg_authreq_')));
}

/** A signed-out browser's authorization request: where /login sends it back, and the request's id. */
async function startSignedOut(browser: Browser, url: string) {
  const response = await browser.get(url);
  expect(response.status, await response.clone().text()).toBe(302);
  const login = new URL(response.headers.get('Location')!, ISSUER);
  expect(login.pathname).toBe('/login');
  const returnTo = login.searchParams.get('return_to')!;
  const requestId = new URL(returnTo, ISSUER).searchParams.get('request_id')!;
  expect(requestId).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { response, login: login.pathname + login.search, returnTo, requestId };
}

describe('signed-out authorization requests store nothing (issue 11, finding 6)', () => {
  it('50 signed-out GETs with a public client id add no authreq: entry to KV', async () => {
    const { client } = await victim({ token_endpoint_auth_method: 'none' });
    const before = await authRequestsInKv();
    for (let i = 0; i < 50; i++) {
      const { url } = await authorizationRequest(client, { prompt: undefined });
      const response = await call(url);
      expect(response.status).toBe(302);
      expect(new URL(response.headers.get('Location')!, ISSUER).pathname).toBe('/login');
    }
    expect(await authRequestsInKv()).toBe(before);
  });

  it('carries the request in a sealed, HttpOnly, SameSite=Lax cookie that lives AUTH_REQUEST_TTL, named by the request id', async () => {
    const { client } = await victim();
    const { url, state } = await authorizationRequest(client, { prompt: undefined });
    const { response, requestId } = await startSignedOut(new Browser(), url);
    const cookie = response.headers.getSetCookie().find((line) => line.startsWith(`tg_authreq_${requestId}=`));
    expect(cookie, response.headers.getSetCookie().join('\n')).toBeDefined();
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).toMatch(new RegExp(`; Max-Age=${AUTH_REQUEST_TTL}\\b`, 'i'));
    expect(cookie).toMatch(/; Path=\//i);
    // Sealed: a compact JWE (five parts), and nothing the client sent is readable in it.
    const value = cookie!.slice(cookie!.indexOf('=') + 1, cookie!.indexOf(';'));
    expect(value.split('.')).toHaveLength(5);
    expect(value).not.toContain(state);
    expect(await env.KV.get(`authreq:${requestId}`)).toBeNull();
  });

  it('on https the cookie is __Host- prefixed and Secure (RFC 6265bis §4.1.3.2)', async () => {
    const { client } = await victim();
    await getKeySet(createDeps(env)); // the keys exist, as on any running server
    const { url } = await authorizationRequest(client, { prompt: undefined });
    const response = await app.request(`https://auth.example.com${url}`, {}, { ...env, ISSUER: 'https://auth.example.com' });
    expect(response.status).toBe(302);
    const cookie = response.headers.getSetCookie().find((line) => line.startsWith('__Host-tg_authreq_'));
    expect(cookie, response.headers.getSetCookie().join('\n')).toBeDefined();
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).not.toMatch(/; Domain=/i);
  });

  it('the whole round trip works through the cookie: sign in, consent, code, tokens; the cookie is then gone', async () => {
    const { user, client } = await victim();
    const browser = new Browser();
    const request = await authorizationRequest(client, { prompt: undefined, scope: 'openid books:read' });
    const { login, returnTo, requestId } = await startSignedOut(browser, request.url);
    expect(pendingCookies(browser).has(`tg_authreq_${requestId}`)).toBe(true);

    const signedIn = await browser.submit(login, { email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('Location')).toBe(returnTo);
    const consent = await browser.get(returnTo);
    const html = await consent.text();
    expect(consent.status, html.slice(0, 300)).toBe(200);
    expect(html).toContain('>Allow</button>');
    // Read once: the cookie is cleared as the request comes back.
    expect(pendingCookies(browser).size).toBe(0);

    const allowed = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    expect(allowed.status).toBe(303);
    const location = new URL(allowed.headers.get('Location')!);
    expect(location.searchParams.get('state')).toBe(request.state);
    const code = location.searchParams.get('code')!;
    const tokens = await redeem(client, {
      code,
      verifier: request.verifier,
      redirectUri: client.redirect_uris[0]!,
      state: request.state,
      location,
    });
    expect(tokens.status, await tokens.clone().text()).toBe(200);
  });

  it('keeps two tabs apart: each pending request has its own cookie and resumes to its own state', async () => {
    const { user, client } = await victim();
    const browser = new Browser();
    // prompt=consent: the second tab shows its page too, after the first tab's Allow.
    const first = await authorizationRequest(client, { prompt: 'consent' });
    const second = await authorizationRequest(client, { prompt: 'consent' });
    const one = await startSignedOut(browser, first.url);
    const two = await startSignedOut(browser, second.url);
    expect(pendingCookies(browser).size).toBe(2);
    await browser.submit(two.login, { email: user.email, password: user.password });
    for (const [pending, request] of [
      [one, first],
      [two, second],
    ] as const) {
      const consent = await browser.get(pending.returnTo);
      const html = await consent.text();
      expect(consent.status, html.slice(0, 300)).toBe(200);
      const allowed = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
      expect(new URL(allowed.headers.get('Location')!).searchParams.get('state')).toBe(request.state);
    }
  });

  it(`keeps at most ${AUTH_REQUEST_COOKIE_LIMIT} pending-request cookies per browser, dropping the oldest`, async () => {
    const { user, client } = await victim();
    const browser = new Browser();
    const started = [];
    for (let i = 0; i < AUTH_REQUEST_COOKIE_LIMIT + 2; i++) {
      started.push(await startSignedOut(browser, (await authorizationRequest(client, { prompt: undefined })).url));
    }
    expect([...pendingCookies(browser).keys()].sort()).toEqual(
      started
        .slice(-AUTH_REQUEST_COOKIE_LIMIT)
        .map(({ requestId }) => `tg_authreq_${requestId}`)
        .sort(),
    );
    await browser.submit(started.at(-1)!.login, { email: user.email, password: user.password });
    const html = await expectErrorPage(await browser.get(started[0]!.returnTo));
    expect(html).toContain('Request expired');
    expect((await browser.get(started.at(-1)!.returnTo)).status).toBe(200);
  });

  describe('a cookie that is not the one Tollgate sealed for this request is refused with the "Request expired" page', () => {
    async function signedInWithPending() {
      const { user, client } = await victim();
      const browser = new Browser();
      const first = await startSignedOut(browser, (await authorizationRequest(client, { prompt: undefined })).url);
      const second = await startSignedOut(browser, (await authorizationRequest(client, { prompt: undefined })).url);
      await browser.submit(first.login, { email: user.email, password: user.password });
      return { browser, client, first, second };
    }

    async function expectExpired(browser: Browser, returnTo: string, clientId: string) {
      const html = await expectErrorPage(await browser.get(returnTo));
      expect(html).toContain('Request expired');
      expect(await codeCount(clientId)).toBe(0);
    }

    it('a tampered cookie (one character of its ciphertext changed)', async () => {
      const { browser, client, first } = await signedInWithPending();
      const name = `tg_authreq_${first.requestId}`;
      const parts = browser.cookies.get(name)!.split('.');
      const ciphertext = parts[3]!;
      parts[3] = (ciphertext[0] === 'A' ? 'B' : 'A') + ciphertext.slice(1);
      browser.cookies.set(name, parts.join('.'));
      await expectExpired(browser, first.returnTo, client.client_id);
    });

    it('another pending request’s cookie under this request’s name (it is bound to its own id)', async () => {
      const { browser, client, first, second } = await signedInWithPending();
      browser.cookies.set(`tg_authreq_${first.requestId}`, browser.cookies.get(`tg_authreq_${second.requestId}`)!);
      await expectExpired(browser, first.returnTo, client.client_id);
    });

    it('a cookie sealed under a key that is not Tollgate’s', async () => {
      const { browser, client, first } = await signedInWithPending();
      const { kid } = (await getKeySet(createDeps(env))).signing;
      const foreign = await new EncryptJWT({ id: first.requestId, clientId: client.client_id })
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid })
        .setExpirationTime('10m')
        .encrypt(crypto.getRandomValues(new Uint8Array(32)));
      browser.cookies.set(`tg_authreq_${first.requestId}`, foreign);
      await expectExpired(browser, first.returnTo, client.client_id);
    });

    it('no cookie at all for a request id that was never kept', async () => {
      const { browser, client } = await signedInWithPending();
      await expectExpired(browser, `/oauth2/authorize?request_id=${'C'.repeat(43)}`, client.client_id);
    });
  });

  it('refuses a signed-out request too large to carry in a cookie (invalid_request to the client) and stores nothing', async () => {
    const { browser: signedIn, client } = await victim({
      redirect_uris: [`https://app.example.com/${'p'.repeat(1500)}`],
    });
    const long = { state: unique('s').padEnd(1000, 's'), nonce: 'n'.repeat(1000), prompt: undefined };
    const before = await authRequestsInKv();
    const { url } = await authorizationRequest(client, long);
    expectErrorRedirect(await new Browser().get(url), {
      status: 302,
      redirectUri: client.redirect_uris[0]!,
      error: 'invalid_request',
      state: long.state,
    });
    expect(await authRequestsInKv()).toBe(before);
    // A signed-in user's request goes on to the consent page (kept in KV, which only a signed-in user reaches).
    const consent = await signedIn.get(url);
    expect(consent.status).toBe(200);
  });
});
