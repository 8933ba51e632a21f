import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  Browser,
  call,
  createUser,
  expectErrorPage,
  formAction,
  hiddenFields,
  ISSUER,
  pkce,
  REDIRECT_URI,
  registerClient,
  type TestUser,
  unique,
  userToken,
} from '../helpers';
import { accountExists, codeCount, csrfOf, victim } from './support';

const EVIL = 'https://evil.example/cb';

/** Where a browser would go for this Location: it must be this server. */
function expectSameOrigin(location: string | null): void {
  expect(location).not.toBeNull();
  expect(new URL(location!, ISSUER).origin, `Location ${location}`).toBe(ISSUER);
  // A browser treats `//host` and `/\host` as another host; the URL parser above agrees, but say it plainly.
  expect(location).not.toMatch(/^[/\\]{2}/);
  expect(location).not.toMatch(/^\/[/\\]/);
}

describe('open redirect at the authorization endpoint (RFC 9700 §4.11.1, RFC 6749 §4.1.2.1)', () => {
  async function request(overrides: Record<string, string | undefined>, clientId: string) {
    const { challenge } = await pkce();
    return authorizeUrl({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: EVIL,
      scope: 'books:read',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...overrides,
    });
  }

  it.each([
    ['an otherwise valid request', {}],
    ['response_type=token', { response_type: 'token' }],
    ['no PKCE', { code_challenge: undefined, code_challenge_method: undefined }],
    ['an unknown scope', { scope: 'admin' }],
    ['prompt=none', { prompt: 'none' }],
    ['a bad prompt', { prompt: 'select_account' }],
  ])('§4.11.1: an unregistered redirect_uri with %s shows the error page and never redirects', async (_kind, overrides) => {
    const { browser, client } = await victim();
    const response = await browser.get(await request(overrides, client.client_id));
    const html = await expectErrorPage(response, 400);
    expect(html).toContain('You have not been redirected');
    expect(html).not.toContain('evil.example');
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('§4.11.1: a signed-out visitor with an unregistered redirect_uri gets the error page, not the login page', async () => {
    const { client } = await victim();
    const response = await call(await request({}, client.client_id));
    await expectErrorPage(response, 400);
  });

  it('§4.11.1: an unknown client_id never redirects, whatever redirect_uri it names', async () => {
    const response = await call(await request({ response_type: 'token' }, unique('no-such-client')));
    const html = await expectErrorPage(response, 400);
    expect(html).toContain('not registered');
  });

  it('§4.11.1: another client’s registered redirect_uri is not this client’s: error page', async () => {
    const { client } = await victim();
    const attacker = await registerClient(await userToken(await createUser()), { redirect_uris: [EVIL] });
    const response = await call(await request({ response_type: 'token' }, client.client_id));
    await expectErrorPage(response, 400);
    expect(attacker.redirect_uris).toEqual([EVIL]);
  });

  it('§4.11.1: a missing or repeated redirect_uri never redirects (RFC 6749 §3.1)', async () => {
    const { client } = await victim();
    const { challenge } = await pkce();
    const base = { response_type: 'token', client_id: client.client_id, code_challenge: challenge, code_challenge_method: 'S256' };
    await expectErrorPage(await call(authorizeUrl(base)), 400);
    const repeated = new URLSearchParams(base);
    repeated.append('redirect_uri', REDIRECT_URI);
    repeated.append('redirect_uri', EVIL);
    await expectErrorPage(await call(`/oauth2/authorize?${repeated}`), 400);
  });

  it.each(['javascript:alert(document.domain)', 'data:text/html,<script>alert(1)</script>', '//evil.example/cb', '/callback'])(
    '§4.11.1: redirect_uri=%s never becomes a Location',
    async (uri) => {
      const { client } = await victim();
      await expectErrorPage(await call(await request({ redirect_uri: uri, response_type: 'token' }, client.client_id)), 400);
    },
  );

  it('§4.11.1: a resumed request (request_id) ignores a redirect_uri smuggled next to it', async () => {
    const { user, client } = await victim();
    const browser = new Browser();
    const { challenge } = await pkce();
    const start = await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT_URI,
        scope: 'books:read',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(start.status).toBe(302);
    const returnTo = new URL(start.headers.get('Location')!, ISSUER).searchParams.get('return_to')!;
    const requestId = new URL(returnTo, ISSUER).searchParams.get('request_id')!;
    const signedIn = await browser.submit(start.headers.get('Location')!, { email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);

    const smuggled = `/oauth2/authorize?${new URLSearchParams({ request_id: requestId, redirect_uri: EVIL, client_id: client.client_id, prompt: 'none' })}`;
    const response = await browser.get(smuggled);
    // The stored request decides: consent for the registered host, and the code goes there alone.
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('app.example.com');
    expect(html).not.toContain('evil.example');
    const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    expect(decision.status).toBe(303);
    const location = new URL(decision.headers.get('Location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('§4.11: RP-initiated logout never redirects to an unregistered post_logout_redirect_uri', async () => {
    const { client } = await victim({ post_logout_redirect_uris: ['https://app.example.com/bye'] });
    const query = new URLSearchParams({ client_id: client.client_id, post_logout_redirect_uri: 'https://evil.example/bye', state: 's' });
    const html = await expectErrorPage(await call(`/oauth2/logout?${query}`), 400);
    expect(html).toContain('You have not been redirected');
  });
});

/**
 * return_to values an attacker may put in a link to /login or /signup. Each
 * must leave the user on this origin after signing in (RFC 9700 §4.11).
 */
const HOSTILE_RETURN_TO = [
  'https://evil.example/',
  'http://evil.example',
  'HTTPS://evil.example',
  '//evil.example',
  '///evil.example',
  '////evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '/\\/evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  ' //evil.example',
  '/%2F%2Fevil.example',
  '/%5Cevil.example',
  '%2F%2Fevil.example',
  '/.//evil.example',
  '/..//evil.example',
  '/%2e//evil.example',
  '/account/..//evil.example',
  '//evil.example@localhost:8787/',
  'https:evil.example',
  'javascript:alert(document.domain)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
];

describe('open redirect at login and signup return_to (RFC 9700 §4.11)', () => {
  // Only successful sign-ins here, so one account serves every case (each in its own browser).
  let user: TestUser;
  beforeAll(async () => {
    user = await createUser();
  });

  it.each(HOSTILE_RETURN_TO)(
    '§4.11: the sign-in page reached with return_to=%j, submitted as is, returns on this origin',
    async (returnTo) => {
      const response = await new Browser().submit(`/login?${new URLSearchParams({ return_to: returnTo })}`, {
        email: user.email,
        password: user.password,
      });
      expect(response.status).toBe(303);
      expectSameOrigin(response.headers.get('Location'));
    },
  );

  it.each(HOSTILE_RETURN_TO)(
    '§4.11: return_to=%j is never echoed off-site by the page, nor followed from a posted form',
    async (returnTo) => {
      const browser = new Browser();
      const page = await browser.get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
      expect(page.status).toBe(200);
      // The hidden field is what the next request trusts: it must already be safe.
      expectSameOrigin(hiddenFields(await page.text()).return_to ?? null);

      const token = await csrfOf(browser, '/login');
      const direct = await browser.post('/login', { csrf_token: token, return_to: returnTo, email: user.email, password: user.password });
      expect(direct.status).toBe(303);
      expectSameOrigin(direct.headers.get('Location'));
    },
  );

  it.each(['https://evil.example/', '//evil.example', '/\\evil.example', '/.//evil.example', 'javascript:alert(1)'])(
    '§4.11: sign-up with return_to=%j stays on this origin',
    async (returnTo) => {
      const browser = new Browser();
      const email = `${unique('signup')}@example.com`;
      const response = await browser.submit(`/signup?${new URLSearchParams({ return_to: returnTo })}`, {
        name: 'Redirect Target',
        email,
        password: 'long enough pw',
      });
      expect(response.status).toBe(303);
      expectSameOrigin(response.headers.get('Location'));
      expect(await accountExists(email)).toBe(true);
    },
  );

  it('§4.11: a same-origin return_to is honoured, so the checks above are not vacuous', async () => {
    const response = await new Browser().submit(`/login?${new URLSearchParams({ return_to: '/account?tab=apps' })}`, {
      email: user.email,
      password: user.password,
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account?tab=apps');
  });
});
