import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  Browser,
  call,
  createUser,
  expectErrorPage,
  expectErrorRedirect,
  formAction,
  hiddenFields,
  ISSUER,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  unique,
  userToken,
} from './helpers';

/** A valid authorization request for `client`, with `overrides` (undefined drops a parameter). */
async function requestFor(client: RegisteredClient, overrides: Record<string, string | undefined> = {}) {
  const { challenge } = await pkce();
  const state = unique('state');
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    scope: 'openid books:read',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  return { url: authorizeUrl(params), state: params.state ?? null, redirectUri: params.redirect_uri! };
}

/** GET /oauth2/authorize in a signed-in browser: the consent page and its form fields. */
async function openConsent(browser: Browser, client: RegisteredClient, overrides: Record<string, string | undefined> = {}) {
  const request = await requestFor(client, overrides);
  const response = await browser.get(request.url);
  const html = await response.text();
  expect(response.status, html.slice(0, 500)).toBe(200);
  expect(html).toContain('>Allow</button>');
  return { ...request, response, html, action: formAction(html), fields: hiddenFields(html) };
}

/** How many codes exist for a client (D1 is the source of truth for codes). */
async function codeCount(clientId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from codes where client_id = ?').bind(clientId).first<{ n: number }>();
  return row!.n;
}

let ownerToken: string;
let reader: TestUser;
let readerBrowser: Browser;

beforeAll(async () => {
  const owner = await createUser();
  ownerToken = await userToken(owner);
  reader = await createUser({ name: 'Grace Reader' });
  readerBrowser = await signedInBrowser(reader);
});

describe('GET /oauth2/authorize', () => {
  describe('before the client and redirect URI are trusted: an error page, never a redirect', () => {
    it('answers an unknown client_id with a 400 error page and no Location', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client, { client_id: unique('nosuchclient') });
      const html = await expectErrorPage(await call(url));
      expect(html).toContain('Unknown app');
    });

    it('answers a missing client_id with the error page', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client, { client_id: undefined });
      await expectErrorPage(await call(url));
    });

    it('answers a missing redirect_uri with the error page', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client, { redirect_uri: undefined });
      await expectErrorPage(await call(url));
    });

    it('answers a repeated client_id with the error page (RFC 6749 §3.1)', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client);
      await expectErrorPage(await call(`${url}&client_id=${encodeURIComponent(client.client_id)}`));
    });

    it('answers a repeated redirect_uri with the error page', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client);
      await expectErrorPage(await call(`${url}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`));
    });

    it('answers an unregistered redirect_uri with the error page even when everything else is wrong too', async () => {
      const client = await registerClient(ownerToken);
      const { url } = await requestFor(client, {
        redirect_uri: 'https://attacker.example/callback',
        response_type: 'token',
        code_challenge: undefined,
      });
      const html = await expectErrorPage(await call(url));
      expect(html).not.toContain('attacker.example');
    });

    // RFC 9700 §4.1.3: exact string matching, so no near miss is accepted.
    const nearMisses = [
      ['a prefix', 'https://app.example.com/call'],
      ['a longer path', 'https://app.example.com/callback/evil'],
      ['a suffix', 'https://app.example.com/callbackx'],
      ['a trailing slash', 'https://app.example.com/callback/'],
      ['an added query', 'https://app.example.com/callback?next=https://attacker.example'],
      ['a fragment', 'https://app.example.com/callback#x'],
      ['an upper-case host', 'https://APP.EXAMPLE.COM/callback'],
      ['an upper-case path', 'https://app.example.com/CALLBACK'],
      ['an upper-case scheme', 'HTTPS://app.example.com/callback'],
      ['path traversal', 'https://app.example.com/callback/../callback'],
      ['encoded path traversal', 'https://app.example.com/callback/%2e%2e/callback'],
      ['userinfo before the host', 'https://attacker.example@app.example.com/callback'],
      ['the host as userinfo', 'https://app.example.com@attacker.example/callback'],
      ['another port', 'https://app.example.com:8443/callback'],
      ['plain http', 'http://app.example.com/callback'],
      ['a subdomain', 'https://evil.app.example.com/callback'],
      ['a parent domain', 'https://example.com/callback'],
    ] as const;
    for (const [kind, redirectUri] of nearMisses) {
      it(`refuses a redirect_uri with ${kind} of the registered one`, async () => {
        const client = await registerClient(ownerToken);
        const { url } = await requestFor(client, { redirect_uri: redirectUri });
        const html = await expectErrorPage(await readerBrowser.get(url));
        expect(html).toContain('Invalid redirect');
      });
    }

    it('refuses a redirect_uri registered by another client', async () => {
      const client = await registerClient(ownerToken);
      const other = await registerClient(ownerToken, { redirect_uris: ['https://other.example/cb'] });
      const { url } = await requestFor(client, { redirect_uri: other.redirect_uris[0] });
      await expectErrorPage(await call(url));
    });
  });

  describe('loopback redirect URIs (RFC 8252 §7.3)', () => {
    it('accepts another port on a registered http://127.0.0.1 URI and redirects there', async () => {
      const client = await registerClient(ownerToken, { redirect_uris: ['http://127.0.0.1:8080/cb'] });
      const consent = await openConsent(readerBrowser, client, { redirect_uri: 'http://127.0.0.1:51234/cb' });
      const allowed = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' });
      expect(allowed.status).toBe(303);
      const location = new URL(allowed.headers.get('Location')!);
      expect(location.origin + location.pathname).toBe('http://127.0.0.1:51234/cb');
      expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(location.searchParams.get('state')).toBe(consent.state);
    });

    for (const [kind, redirectUri] of [
      ['another path', 'http://127.0.0.1:51234/other'],
      ['a longer path', 'http://127.0.0.1:51234/cb/more'],
      ['path traversal', 'http://127.0.0.1:51234/x/../cb'],
      ['another host', 'http://127.0.0.2:8080/cb'],
      ['localhost instead of the IP literal', 'http://localhost:8080/cb'],
      ['https instead of http', 'https://127.0.0.1:8080/cb'],
      ['userinfo', 'http://attacker@127.0.0.1:8080/cb'],
    ] as const) {
      it(`refuses ${kind} on a registered loopback URI`, async () => {
        const client = await registerClient(ownerToken, { redirect_uris: ['http://127.0.0.1:8080/cb'] });
        const { url } = await requestFor(client, { redirect_uri: redirectUri });
        await expectErrorPage(await readerBrowser.get(url));
      });
    }
  });

  describe('once the client and redirect URI are trusted: errors go back to the client', () => {
    const cases: [string, Record<string, string | undefined>, string][] = [
      ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
      ['response_type=code id_token', { response_type: 'code id_token' }, 'unsupported_response_type'],
      ['a missing code_challenge', { code_challenge: undefined }, 'invalid_request'],
      ['code_challenge_method=plain', { code_challenge_method: 'plain' }, 'invalid_request'],
      ['a missing code_challenge_method', { code_challenge_method: undefined }, 'invalid_request'],
      ['a code_challenge that is too short', { code_challenge: 'abc' }, 'invalid_request'],
      ['a code_challenge with characters outside base64url', { code_challenge: `${'a'.repeat(42)}+` }, 'invalid_request'],
      ['a code_challenge that is too long', { code_challenge: 'a'.repeat(44) }, 'invalid_request'],
      ['an unknown scope', { scope: 'openid admin' }, 'invalid_scope'],
      ['a scope token with a forbidden character', { scope: 'openid "books:read"' }, 'invalid_scope'],
      ['an unknown prompt value', { prompt: 'select_account' }, 'invalid_request'],
      ['prompt=none combined with login', { prompt: 'none login' }, 'invalid_request'],
      ['a max_age that is not a number', { max_age: 'soon' }, 'invalid_request'],
    ];
    for (const [kind, overrides, error] of cases) {
      it(`redirects ${kind} back with error=${error}, state and iss`, async () => {
        const client = await registerClient(ownerToken);
        const request = await requestFor(client, overrides);
        const response = await call(request.url);
        expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error, state: request.state });
        expect(await codeCount(client.client_id)).toBe(0);
      });
    }

    it('redirects a missing scope back with invalid_scope when the client registered none', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { scope: undefined });
      expectErrorRedirect(await call(request.url), {
        status: 302,
        redirectUri: REDIRECT_URI,
        error: 'invalid_scope',
        state: request.state,
      });
    });

    it('asks for the client’s registered scope when the request names none', async () => {
      const client = await registerClient(ownerToken, { scope: 'openid books:write' });
      const { html } = await openConsent(readerBrowser, client, { scope: undefined });
      expect(html).toContain('Add books to your library');
      expect(html).not.toContain('Read the books in your library');
    });

    it('redirects a scope outside the client’s registered scope back with invalid_scope', async () => {
      const client = await registerClient(ownerToken, { scope: 'openid books:read' });
      const request = await requestFor(client, { scope: 'openid books:write' });
      expectErrorRedirect(await call(request.url), {
        status: 302,
        redirectUri: REDIRECT_URI,
        error: 'invalid_scope',
        state: request.state,
      });
    });

    it('redirects a repeated scope parameter back with invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client);
      const response = await call(`${request.url}&scope=books:write`);
      expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_request', state: request.state });
    });

    it('redirects a repeated code_challenge back with invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client);
      const { challenge } = await pkce();
      const response = await call(`${request.url}&code_challenge=${challenge}`);
      expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_request', state: request.state });
    });

    it('leaves state out of the error redirect when the request had none', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { state: undefined, response_type: 'token' });
      expectErrorRedirect(await call(request.url), {
        status: 302,
        redirectUri: REDIRECT_URI,
        error: 'unsupported_response_type',
        state: null,
      });
    });

    it('keeps the registered redirect URI’s own query when it adds the error', async () => {
      const registered = 'https://app.example.com/callback?tenant=blue';
      const client = await registerClient(ownerToken, { redirect_uris: [registered] });
      const request = await requestFor(client, { response_type: 'token' });
      const url = expectErrorRedirect(await call(request.url), {
        status: 302,
        redirectUri: 'https://app.example.com/callback',
        error: 'unsupported_response_type',
        state: request.state,
      });
      expect(url.searchParams.get('tenant')).toBe('blue');
    });
  });

  describe('the user', () => {
    it('sends a signed-out user to /login with a return_to that resumes the request, then shows consent', async () => {
      const client = await registerClient(ownerToken, { client_name: 'Shelf Tracker' });
      const browser = new Browser();
      const request = await requestFor(client);
      const toLogin = await browser.get(request.url);
      expect(toLogin.status).toBe(302);
      const location = new URL(toLogin.headers.get('Location')!, ISSUER);
      expect(location.origin).toBe(ISSUER);
      expect(location.pathname).toBe('/login');
      const returnTo = location.searchParams.get('return_to')!;
      expect(returnTo).toMatch(/^\/oauth2\/authorize\?request_id=[A-Za-z0-9_-]{43}$/);
      // Nothing the client sent travels through the login page.
      expect(returnTo).not.toContain(client.client_id);
      expect(returnTo).not.toContain(request.state!);

      const signedIn = await browser.submit(location.pathname + location.search, { email: reader.email, password: reader.password });
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers.get('Location')).toBe(returnTo);
      const consent = await browser.get(returnTo);
      const html = await consent.text();
      expect(consent.status).toBe(200);
      expect(html).toContain('Shelf Tracker');
      expect(html).toContain('app.example.com');
      expect(html).toContain('Read the books in your library');
      expect(html).toContain('Grace Reader');
    });

    it('passes login_hint on to the login page', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { login_hint: 'hint@example.com' });
      const response = await call(request.url);
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get('Location')!, ISSUER);
      expect(location.pathname).toBe('/login');
      expect(location.searchParams.get('login_hint')).toBe('hint@example.com');
    });

    it('answers an unknown request_id with the error page', async () => {
      const response = await readerBrowser.get(`/oauth2/authorize?request_id=${'A'.repeat(43)}`);
      await expectErrorPage(response);
    });

    it('answers a malformed request_id with the error page', async () => {
      await expectErrorPage(await readerBrowser.get('/oauth2/authorize?request_id=short'));
    });

    it('redirects prompt=none for a signed-out user back with login_required', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { prompt: 'none' });
      expectErrorRedirect(await call(request.url), {
        status: 302,
        redirectUri: REDIRECT_URI,
        error: 'login_required',
        state: request.state,
      });
    });

    it('redirects prompt=none for a signed-in user who has not consented back with consent_required', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { prompt: 'none' });
      const response = await readerBrowser.get(request.url);
      expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'consent_required', state: request.state });
    });

    it('sends a signed-in user to /login again for prompt=login', async () => {
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { prompt: 'login' });
      const response = await readerBrowser.get(request.url);
      expect(response.status).toBe(302);
      expect(new URL(response.headers.get('Location')!, ISSUER).pathname).toBe('/login');
    });

    it('sends a user who signed in within the same second to /login again for prompt=login', async () => {
      const user = await createUser();
      const browser = await signedInBrowser(user);
      // Stamp the sign-in with the next second: to a whole-second comparison
      // (auth_time < the request's second) it is then not before the request,
      // exactly as a sign-in made earlier in the request's own second is not.
      await env.DB.prepare('update sessions set auth_time = unixepoch() + 1 where user_id = ?').bind(user.id).run();
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { prompt: 'login' });
      const response = await browser.get(request.url);
      expect(response.status).toBe(302);
      expect(new URL(response.headers.get('Location')!, ISSUER).pathname).toBe('/login');
    });

    it('sends a browser that comes back for a prompt=login request without signing in to /login again', async () => {
      const client = await registerClient(ownerToken);
      const browser = await signedInBrowser(await createUser());
      const request = await requestFor(client, { prompt: 'login' });
      const toLogin = await browser.get(request.url);
      expect(toLogin.status).toBe(302);
      const returnTo = new URL(toLogin.headers.get('Location')!, ISSUER).searchParams.get('return_to')!;
      // The same session as before: no sign-in was made for this request.
      const again = await browser.get(returnTo);
      expect(again.status).toBe(302);
      const location = new URL(again.headers.get('Location')!, ISSUER);
      expect(location.pathname).toBe('/login');
      expect(location.searchParams.get('return_to')).toBe(returnTo);
    });

    /** A signed-in browser whose session is an hour old, sent to /login by a max_age=0 request. */
    async function maxAgeZeroLogin() {
      const user = await createUser();
      const browser = await signedInBrowser(user);
      // Age the session: the user entered their password an hour ago.
      await env.DB.prepare('update sessions set auth_time = auth_time - 3600 where user_id = ?').bind(user.id).run();
      const client = await registerClient(ownerToken);
      const request = await requestFor(client, { max_age: '0' });
      const toLogin = await browser.get(request.url);
      expect(toLogin.status).toBe(302);
      const location = new URL(toLogin.headers.get('Location')!, ISSUER);
      expect(location.pathname).toBe('/login');
      const returnTo = location.searchParams.get('return_to')!;
      expect(returnTo).toMatch(/^\/oauth2\/authorize\?request_id=[A-Za-z0-9_-]{43}$/);
      const signedIn = await browser.submit(location.pathname + location.search, { email: user.email, password: user.password });
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers.get('Location')).toBe(returnTo);
      return { browser, returnTo };
    }

    it('forces a new sign-in for max_age=0 when the session is old, then shows consent', async () => {
      const { browser, returnTo } = await maxAgeZeroLogin();
      const consent = await browser.get(returnTo);
      expect(consent.status, consent.headers.get('Location') ?? '').toBe(200);
      expect(await consent.text()).toContain('>Allow</button>');
    });

    it('accepts the sign-in made for a max_age=0 request even when the browser comes back a second later', async () => {
      const { browser, returnTo } = await maxAgeZeroLogin();
      // A slow network: the redirect is followed in the next second. The
      // sign-in just made for this very request satisfies max_age (OIDC Core
      // §3.1.2.1); it must not send the user back to /login, again and again.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const consent = await browser.get(returnTo);
      expect(consent.status, consent.headers.get('Location') ?? '').toBe(200);
      expect(await consent.text()).toContain('>Allow</button>');
    });

    it('shows the consent page with anti-framing, no-referrer and no-store headers', async () => {
      const client = await registerClient(ownerToken);
      const { response, html } = await openConsent(readerBrowser, client, { scope: 'openid profile email books:read books:write' });
      expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
      expect(response.headers.get('Content-Security-Policy')).toMatch(/frame-ancestors 'none'/);
      expect(response.headers.get('X-Frame-Options')).toBe('DENY');
      expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      for (const words of ['See your name', 'See your email address', 'Add books to your library']) expect(html).toContain(words);
      expect(html).toContain('>Deny</button>');
    });
  });
});

describe('POST /oauth2/authorize', () => {
  it('Allow: 303 (never 307) back to the client with code, state and iss', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const response = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' });
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('Location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBe(consent.state);
    expect(location.searchParams.get('iss')).toBe(ISSUER);
    expect(location.searchParams.has('error')).toBe(false);
    expect(await codeCount(client.client_id)).toBe(1);
  });

  it('shows the client’s name as text, never as markup', async () => {
    const client = await registerClient(ownerToken, { client_name: '<script>alert(1)</script><b>Evil</b>' });
    const { html } = await openConsent(readerBrowser, client);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toContain('<b>Evil</b>');
    expect(html).toContain('&lt;script&gt;');
  });

  it('Deny: 303 back to the client with error=access_denied, state and iss, and no code', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const response = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'deny' });
    expectErrorRedirect(response, { status: 303, redirectUri: REDIRECT_URI, error: 'access_denied', state: consent.state });
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('refuses a decision without csrf_token with 403 and issues no code', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const { csrf_token: _dropped, ...fields } = consent.fields;
    const response = await readerBrowser.post(consent.action, { ...fields, decision: 'allow' });
    await expectErrorPage(response, 403);
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('refuses a decision with a wrong csrf_token with 403 and issues no code', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const response = await readerBrowser.post(consent.action, { ...consent.fields, csrf_token: 'x'.repeat(43), decision: 'allow' });
    await expectErrorPage(response, 403);
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('refuses a decision posted from another origin with 403', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const response = await readerBrowser.post(
      consent.action,
      { ...consent.fields, decision: 'allow' },
      { Origin: 'https://attacker.example' },
    );
    await expectErrorPage(response, 403);
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('refuses a decision by another signed-in user than the one shown the page, and the request stays the shown user’s', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const intruder = await signedInBrowser(await createUser());
    const intruderCsrf = intruder.cookies.get('tg_csrf')!;
    expect(intruderCsrf).toBeTruthy();
    const response = await intruder.post(consent.action, {
      request_id: consent.fields.request_id!,
      csrf_token: intruderCsrf,
      decision: 'allow',
    });
    await expectErrorPage(response, 403);
    expect(await codeCount(client.client_id)).toBe(0);

    const allowed = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' });
    expect(allowed.status).toBe(303);
    expect(new URL(allowed.headers.get('Location')!).searchParams.get('code')).toBeTruthy();
  });

  it('refuses a decision from a signed-out browser with 403', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const stranger = new Browser();
    await stranger.get('/login');
    const response = await stranger.post(consent.action, {
      request_id: consent.fields.request_id!,
      csrf_token: stranger.cookies.get('tg_csrf')!,
      decision: 'allow',
    });
    await expectErrorPage(response, 403);
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('answers an unknown request_id with the error page', async () => {
    const response = await readerBrowser.post('/oauth2/authorize', {
      request_id: 'B'.repeat(43),
      csrf_token: readerBrowser.cookies.get('tg_csrf')!,
      decision: 'allow',
    });
    await expectErrorPage(response, 400);
  });

  it('answers a decision that is neither allow nor deny with the error page', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    await expectErrorPage(await readerBrowser.post(consent.action, { ...consent.fields, decision: 'maybe' }), 400);
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('answers a form post with the wrong content type with 415', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const response = await readerBrowser.fetch('/oauth2/authorize', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...consent.fields, decision: 'allow' }),
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('lets a request_id be answered only once', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const first = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' });
    expect(first.status).toBe(303);
    const second = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' });
    await expectErrorPage(second, 400);
    const deny = await readerBrowser.post(consent.action, { ...consent.fields, decision: 'deny' });
    await expectErrorPage(deny, 400);
    expect(await codeCount(client.client_id)).toBe(1);
  });

  it('issues one code when the same Allow is posted several times at once (a double click)', async () => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(readerBrowser, client);
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => readerBrowser.post(consent.action, { ...consent.fields, decision: 'allow' })),
    );
    // A request_id is single-use, so one Allow wins and the others find the
    // request gone. The request is read and then deleted in KV, two steps: if
    // this ever sees two 303s, the consumption is not atomic (STYLE rule 7).
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([303, 400, 400, 400, 400]);
    expect(await codeCount(client.client_id)).toBe(1);
  });
});
