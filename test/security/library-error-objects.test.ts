import { beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  basic,
  call,
  createUser,
  hiddenFields,
  issueTokens,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  userToken,
} from '../helpers';

// Finding 5 (issue 11): /login and /signup answered zod's own result object,
// `{"success":false,"error":{"name":"ZodError",…}}`, for a 255-character
// login_hint or a repeated return_to. A page route answers a page (or ignores
// a bad hint), a JSON route answers the OAuth error shape; no endpoint ever
// shows a library's error object.

/** What a library's error object looks like on the wire (zod's safeParse result, a stack). */
const LIBRARY_ERROR = /ZodError|"success"\s*:\s*false|"issues"\s*:|at .*\.(ts|js):\d+/;

async function expectNoLibraryError(response: Response, what: string): Promise<string> {
  const body = await response.text();
  expect(body, `${what}: ${body.slice(0, 300)}`).not.toMatch(LIBRARY_ERROR);
  return body;
}

/** A page: HTML, 200 or a 4xx, no library error object. */
async function expectPage(response: Response, what: string): Promise<string> {
  expect(response.headers.get('Content-Type'), what).toMatch(/^text\/html/);
  expect(response.status, what).toBeLessThan(500);
  expect([200, 302, 303].includes(response.status) || response.status >= 400, what).toBe(true);
  return expectNoLibraryError(response, what);
}

/** A JSON endpoint's refusal: 4xx, `{error, error_description?}` and nothing else. */
async function expectOAuthError(response: Response, what: string): Promise<Record<string, unknown>> {
  expect(response.status, what).toBeGreaterThanOrEqual(400);
  expect(response.status, what).toBeLessThan(500);
  expect(response.headers.get('Content-Type'), what).toMatch(/^application\/json/);
  const body = JSON.parse(await expectNoLibraryError(response, what)) as Record<string, unknown>;
  expect(
    Object.keys(body).every((key) => key === 'error' || key === 'error_description'),
    `${what}: ${JSON.stringify(body)}`,
  ).toBe(true);
  expect(typeof body.error, what).toBe('string');
  return body;
}

const LONG_HINT = `${'a'.repeat(243)}@example.com`; // 255 characters

describe('finding 5: the sign-in and sign-up pages never answer a library error object', () => {
  it.each(['/login', '/signup'])('GET %s with a 255-character login_hint answers the page, without the hint', async (path) => {
    expect(LONG_HINT).toHaveLength(255);
    const response = await new Browser().get(`${path}?login_hint=${encodeURIComponent(LONG_HINT)}`);
    const html = await expectPage(response, `${path} long login_hint`);
    expect(response.status).toBe(200);
    expect(html).not.toContain(LONG_HINT);
    expect(hiddenFields(html).csrf_token).toBeTruthy();
  });

  it.each(['/login', '/signup'])('GET %s with a repeated return_to answers the page, returning to the default', async (path) => {
    const response = await new Browser().get(`${path}?return_to=%2Faccount&return_to=%2F%2Fevil.example%2F`);
    const html = await expectPage(response, `${path} repeated return_to`);
    expect(response.status).toBe(200);
    expect(hiddenFields(html).return_to).toBe('/account');
    expect(html).not.toContain('evil.example');
  });

  it.each(['/login', '/signup'])('GET %s with a repeated login_hint ignores the hint', async (path) => {
    const response = await new Browser().get(`${path}?login_hint=a%40example.com&login_hint=b%40example.com`);
    const html = await expectPage(response, `${path} repeated login_hint`);
    expect(response.status).toBe(200);
    expect(html).not.toContain('a@example.com');
  });

  it('GET /login with a good login_hint still fills in the email', async () => {
    const response = await new Browser().get('/login?login_hint=someone%40example.com');
    const html = await expectPage(response, '/login login_hint');
    expect(html).toContain('value="someone@example.com"');
  });
});

describe('finding 5: other pages answer a page, not JSON, for a bad request', () => {
  it('GET /demo/callback with a repeated or too-long parameter answers the HTML error page', async () => {
    for (const query of ['code=a&code=b', `state=${'s'.repeat(5000)}`, 'iss=a&iss=b']) {
      const response = await new Browser().get(`/demo/callback?${query}`);
      const html = await expectPage(response, `/demo/callback?${query.slice(0, 40)}`);
      expect(response.status).toBe(400);
      expect(html).toContain('role="alert"');
    }
  });

  it('GET and POST /oauth2/logout with a repeated or too-long parameter answer the HTML error page', async () => {
    for (const query of ['state=a&state=b', `client_id=${'c'.repeat(300)}`, `id_token_hint=${'h'.repeat(5000)}`]) {
      const response = await new Browser().get(`/oauth2/logout?${query}`);
      await expectPage(response, `/oauth2/logout?${query.slice(0, 40)}`);
      expect(response.status).toBe(400);
      const posted = await call('/oauth2/logout', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: query,
      });
      await expectPage(posted, `POST /oauth2/logout ${query.slice(0, 40)}`);
      expect(posted.status).toBe(400);
    }
  });

  it('GET /oauth2/authorize with repeated parameters answers a page or a redirect, never a library error', async () => {
    const response = await call('/oauth2/authorize?client_id=a&client_id=b&redirect_uri=x&redirect_uri=y');
    await expectPage(response, '/oauth2/authorize repeated');
  });
});

describe('finding 5: every JSON endpoint answers a bad body with the OAuth error shape', () => {
  let ownerToken: string;
  let client: RegisteredClient;
  let accessToken: string;

  beforeAll(async () => {
    const user = await createUser();
    ownerToken = await userToken(user);
    client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    accessToken = (await issueTokens(await signedInBrowser(user), client, { scope: 'openid books:write' })).access_token;
  });

  function jsonPost(path: string, body: string, token?: string): Promise<Response> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    return call(path, { method: 'POST', headers, body });
  }

  it.each([
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"x"'],
    ['wrong types', '{"email":["a"],"password":{},"name":1,"title":[],"author":null,"redirect_uris":"x","grant_types":[1]}'],
    ['a too-long field', JSON.stringify({ email: `${'e'.repeat(300)}@example.com`, password: 'p'.repeat(300), title: 't'.repeat(300) })],
  ])('JSON bodies: %s', async (_kind, body) => {
    const endpoints: [string, string | undefined][] = [
      ['/api/users', undefined],
      ['/api/login', undefined],
      ['/oauth2/register', ownerToken],
      ['/api/books', accessToken],
    ];
    for (const [path, token] of endpoints) await expectOAuthError(await jsonPost(path, body, token), `${path} ${body.slice(0, 40)}`);
  });

  it.each([
    ['a repeated grant_type', '/oauth2/token', 'grant_type=authorization_code&grant_type=refresh_token'],
    ['a repeated refresh_token', '/oauth2/token', 'grant_type=refresh_token&refresh_token=a&refresh_token=b'],
    ['a too-long refresh_token', '/oauth2/token', `grant_type=refresh_token&refresh_token=${'r'.repeat(5000)}`],
    ['a repeated code', '/oauth2/token', 'grant_type=authorization_code&code=a&code=b&redirect_uri=x&code_verifier=y'],
    ['a repeated token', '/oauth2/revoke', 'token=a&token=b'],
    ['a too-long token', '/oauth2/revoke', `token=${'t'.repeat(5000)}`],
    ['a repeated token', '/oauth2/introspect', 'token=a&token=b'],
    ['a repeated token_type_hint', '/oauth2/introspect', 'token=a&token_type_hint=a&token_type_hint=b'],
  ])('form bodies: %s at %s', async (kind, path, body) => {
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) };
    await expectOAuthError(await call(path, { method: 'POST', headers, body }), `${path} ${kind}`);
  });

  it('client credentials sent twice or too long', async () => {
    for (const body of [
      `grant_type=client_credentials&client_id=a&client_id=b`,
      `grant_type=client_credentials&client_id=${'c'.repeat(300)}`,
    ]) {
      const response = await call('/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      });
      await expectOAuthError(response, body.slice(0, 60));
    }
  });

  it('DELETE /api/clients/:id with a too-long id', async () => {
    const response = await call(`/api/clients/${'i'.repeat(300)}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${ownerToken}` },
    });
    await expectOAuthError(response, 'DELETE /api/clients/<300>');
  });
});
