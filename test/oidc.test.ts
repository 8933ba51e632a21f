import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../src/lib/crypto';
import {
  authorizeUrl,
  Browser,
  call,
  createUser,
  decodeJwt,
  formAction,
  hiddenFields,
  ISSUER,
  issueTokens,
  pkce,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from './helpers';

const POST_LOGOUT_URI = 'https://rp.example/bye';

describe('ID token claims by scope (OIDC Core §5.4)', () => {
  let user: TestUser;
  let ownerToken: string;
  let browser: Browser;

  beforeAll(async () => {
    user = await createUser({ name: 'Ada Lovelace' });
    ownerToken = await userToken(user);
    browser = await signedInBrowser(user);
  });

  it.each([
    ['openid', {}, ['name', 'email', 'email_verified']],
    ['openid profile', { name: 'Ada Lovelace' }, ['email', 'email_verified']],
    ['openid email', { email_verified: false }, ['name']],
    ['openid profile email', { name: 'Ada Lovelace', email_verified: false }, []],
  ])('%s', async (scope, expected, absent) => {
    const client = await registerClient(ownerToken);
    const tokens = await issueTokens(browser, client, { scope });
    const claims = decodeJwt(tokens.id_token!).payload;
    expect(claims).toMatchObject({ ...expected, iss: ISSUER, sub: user.id, aud: client.client_id, azp: client.client_id });
    if (scope.includes('email')) expect(claims.email).toBe(user.email);
    for (const name of absent) expect(claims).not.toHaveProperty(name);
  });

  it('never lets a claim snapshot override the registered claims', async () => {
    const client = await registerClient(ownerToken);
    const tokens = await issueTokens(browser, client, { scope: 'openid profile' });
    const { payload } = decodeJwt(tokens.id_token!);
    expect(payload.sub).toBe(user.id);
    expect(payload.iss).toBe(ISSUER);
  });
});

describe('GET /oauth2/authorize login_hint', () => {
  it('prefills the email on the sign-in page, across the redirect', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner));
    const { challenge } = await pkce();
    const response = await new Browser().get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'openid',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        login_hint: 'hinted@example.com',
      }),
    );
    expect(response.status).toBe(302);
    const login = await call(response.headers.get('Location')!);
    expect(await login.text()).toContain('value="hinted@example.com"');
  });
});

describe('GET /.well-known/openid-configuration (OIDC Discovery)', () => {
  it('names the end_session_endpoint and every claim it can issue', async () => {
    const metadata = (await (await call('/.well-known/openid-configuration')).json()) as Record<string, unknown>;
    expect(metadata.end_session_endpoint).toBe(`${ISSUER}/oauth2/logout`);
    expect(metadata.claims_supported).toEqual(
      expect.arrayContaining(['sub', 'name', 'email', 'email_verified', 'auth_time', 'nonce', 'azp']),
    );
    expect(metadata.response_modes_supported).toEqual(['query']);
  });
});

describe('/oauth2/logout (RP-initiated logout)', () => {
  let user: TestUser;
  let ownerToken: string;

  beforeAll(async () => {
    user = await createUser();
    ownerToken = await userToken(user);
  });

  async function signedInWithIdToken() {
    const client = await registerClient(ownerToken, { post_logout_redirect_uris: [POST_LOGOUT_URI] });
    const browser = await signedInBrowser(user);
    const tokens = await issueTokens(browser, client, { scope: 'openid' });
    return { client, browser, idToken: tokens.id_token! };
  }

  it('registers post_logout_redirect_uris under the redirect URI rules', async () => {
    const client = await registerClient(ownerToken, { post_logout_redirect_uris: [POST_LOGOUT_URI] });
    expect(client.post_logout_redirect_uris).toEqual([POST_LOGOUT_URI]);
    const bad = await call('/oauth2/register', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ownerToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: ['http://evil.example/bye'] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_redirect_uri' });
  });

  it('asks before signing out, then ends the session and goes back with state', async () => {
    const { browser, idToken } = await signedInWithIdToken();
    const query = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: 's1' });
    const page = await browser.get(`/oauth2/logout?${query}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
    const html = await page.text();
    // The link alone signed nobody out.
    expect((await browser.get('/account')).status).toBe(200);
    const sessionHash = await hashSecret(browser.cookies.get('tg_session')!);
    const done = await browser.post(formAction(html), hiddenFields(html));
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe(`${POST_LOGOUT_URI}?state=s1`);
    expect((await browser.get('/account')).status).toBe(302);
    const session = await env.DB.prepare('select count(*) as n from sessions where id_hash = ?').bind(sessionHash).first<{ n: number }>();
    expect(session?.n).toBe(0);
  });

  it('accepts the same request by POST', async () => {
    const { browser, idToken } = await signedInWithIdToken();
    const page = await browser.post('/oauth2/logout', { id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_URI });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('>Sign out</button>');
  });

  it('never redirects to an unregistered post_logout_redirect_uri', async () => {
    const { browser, idToken } = await signedInWithIdToken();
    for (const uri of ['https://evil.example/', `${POST_LOGOUT_URI}/x`, `${POST_LOGOUT_URI}?a=b`]) {
      const response = await browser.get(
        `/oauth2/logout?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: uri })}`,
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('Location')).toBeNull();
    }
    // Without a hint or client_id there is no client whose URIs could match.
    const anonymous = await browser.get(`/oauth2/logout?${new URLSearchParams({ post_logout_redirect_uri: POST_LOGOUT_URI })}`);
    expect(anonymous.status).toBe(400);
  });

  it('re-checks the confirmation form: a forged redirect target is refused', async () => {
    const { client, browser, idToken } = await signedInWithIdToken();
    const html = await (await browser.get(`/oauth2/logout?${new URLSearchParams({ id_token_hint: idToken })}`)).text();
    const forged = await browser.post('/oauth2/logout/confirm', {
      ...hiddenFields(html),
      client_id: client.client_id,
      post_logout_redirect_uri: 'https://evil.example/',
    });
    expect(forged.status).toBe(400);
    expect(forged.headers.get('Location')).toBeNull();
    expect((await browser.get('/account')).status).toBe(200);
  });

  it('refuses the confirmation without its CSRF token', async () => {
    const { browser } = await signedInWithIdToken();
    const response = await browser.post('/oauth2/logout/confirm', {});
    expect(response.status).toBe(403);
    expect((await browser.get('/account')).status).toBe(200);
  });

  it('refuses an id_token_hint it did not sign, a user API token, and a mismatched client_id', async () => {
    const { browser, idToken } = await signedInWithIdToken();
    const [header, payload] = idToken.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(86)}`;
    expect((await browser.get(`/oauth2/logout?id_token_hint=${forged}`)).status).toBe(400);
    expect((await browser.get(`/oauth2/logout?id_token_hint=${ownerToken}`)).status).toBe(400);
    const other = await registerClient(ownerToken);
    const mismatch = new URLSearchParams({ id_token_hint: idToken, client_id: other.client_id });
    expect((await browser.get(`/oauth2/logout?${mismatch}`)).status).toBe(400);
  });

  it('never sends a signed-out visitor on, even when an id_token_hint vouches for the URI', async () => {
    const { idToken } = await signedInWithIdToken();
    const response = await call(
      `/oauth2/logout?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'x' })}`,
    );
    // Issue 11, finding 4: only a session of the hint's user may go back (test/security/logout-open-redirect.test.ts).
    expect(response.status).toBe(200);
    expect(response.headers.get('Location')).toBeNull();
    // A client_id alone never redirects: anyone can register a client (RFC 9700 §4.11.2).
    const { client } = await signedInWithIdToken();
    const unvouched = await call(
      `/oauth2/logout?${new URLSearchParams({ client_id: client.client_id, post_logout_redirect_uri: POST_LOGOUT_URI })}`,
    );
    expect(unvouched.status).toBe(200);
    expect(unvouched.headers.get('Location')).toBeNull();
    const plain = await call('/oauth2/logout');
    expect(plain.status).toBe(200);
    expect(await plain.text()).toContain('signed out');
  });
});
