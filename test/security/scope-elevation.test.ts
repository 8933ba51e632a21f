import { describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  basic,
  bearer,
  call,
  decodeJwt,
  expectErrorRedirect,
  expectJsonError,
  form,
  issueTokens,
  json,
  REDIRECT_URI,
  type RegisteredClient,
  refreshAs,
  registerClient,
  type TokenResponseBody,
} from '../helpers';
import { authorizationRequest, codeCount, tamperJwt, victim } from './support';

/**
 * A client gets at most what it registered for and what the user approved
 * (RFC 6749 §3.3, §6; RFC 9700 §2.3: least privilege), and a token's scope
 * cannot be edited by its holder (RFC 9068 §4).
 */
const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token'] };

type Tokens = TokenResponseBody & { refresh_token: string };

async function bookCount(accessToken: string): Promise<number> {
  const response = await call('/api/books', { headers: bearer(accessToken) });
  expect(response.status).toBe(200);
  return ((await response.json()) as unknown[]).length;
}

function addBook(accessToken: string) {
  return json('/api/books', { title: 'Forged', author: 'Mallory' }, { headers: bearer(accessToken) });
}

function clientCredentials(client: RegisteredClient, scope: string) {
  return form(
    '/oauth2/token',
    { grant_type: 'client_credentials', scope },
    { Authorization: basic(client.client_id, client.client_secret!) },
  );
}

describe('scope elevation at the authorization endpoint (RFC 6749 §3.3, §4.1.2.1)', () => {
  it.each([
    ['a scope beyond the client’s registration', 'books:read books:write'],
    ['an unknown scope', 'books:read admin'],
    ['a wildcard', '*'],
    ['two scopes joined by a tab', 'books:read\tbooks:write'],
  ])('§3.3: %s is invalid_scope, redirected with state and iss, and no code', async (_kind, scope) => {
    const { browser, client } = await victim({ scope: 'openid books:read' });
    const request = await authorizationRequest(client, { scope });
    const response = await browser.get(request.url);
    expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_scope', state: request.state });
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('§3.3: remembered consent never covers a wider scope: prompt=none is consent_required, and no code', async () => {
    const { browser, client } = await victim();
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const before = await codeCount(client.client_id);
    const request = await authorizationRequest(client, { scope: 'books:read books:write', prompt: 'none' });
    expectErrorRedirect(await browser.get(request.url), {
      status: 302,
      redirectUri: REDIRECT_URI,
      error: 'consent_required',
      state: request.state,
    });
    // Without prompt=none the user is asked again, for the new scope.
    const asked = await browser.get((await authorizationRequest(client, { scope: 'books:read books:write', prompt: undefined })).url);
    expect(asked.status).toBe(200);
    expect(await asked.text()).toContain('Add books to your library');
    expect(await codeCount(client.client_id)).toBe(before);
  });
});

describe('scope elevation at the token endpoint (RFC 6749 §6, §4.4)', () => {
  it('§6: a refresh asking for more than was granted is invalid_scope, and the refresh token survives unwidened', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const tokens = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    await expectJsonError(await refreshAs(client, tokens.refresh_token, { scope: 'books:read books:write' }), 400, 'invalid_scope');
    await expectJsonError(await refreshAs(client, tokens.refresh_token, { scope: 'books:write' }), 400, 'invalid_scope');

    const refreshed = await refreshAs(client, tokens.refresh_token);
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as Tokens;
    expect(body.scope).toBe('books:read');
    expect(decodeJwt(body.access_token).payload.scope).toBe('books:read');
  });

  it('§6: a refresh asking for a scope outside the client’s registration is invalid_scope', async () => {
    const { browser, client } = await victim({ ...WITH_REFRESH, scope: 'books:read' });
    const tokens = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    await expectJsonError(await refreshAs(client, tokens.refresh_token, { scope: 'books:read openid' }), 400, 'invalid_scope');
  });

  it.each(['openid', 'profile', 'email', 'offline_access', 'books:read openid'])(
    '§4.4: client_credentials asking for the user scope %j is invalid_scope',
    async (scope) => {
      const { ownerToken } = await victim();
      const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [] });
      await expectJsonError(await clientCredentials(machine, scope), 400, 'invalid_scope');
    },
  );

  it('§4.4: client_credentials asking beyond the client’s registered scope is invalid_scope', async () => {
    const { ownerToken } = await victim();
    const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [], scope: 'books:read' });
    await expectJsonError(await clientCredentials(machine, 'books:write'), 400, 'invalid_scope');
    expect((await clientCredentials(machine, 'books:read')).status).toBe(200);
  });

  it('RFC 6750 §3.1: a client_credentials token cannot act for a user on the books API (insufficient_scope)', async () => {
    const { ownerToken } = await victim();
    const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [] });
    const issued = await clientCredentials(machine, 'books:read books:write');
    expect(issued.status).toBe(200);
    const { access_token } = (await issued.json()) as TokenResponseBody;
    await expectJsonError(await call('/api/books', { headers: bearer(access_token) }), 403, 'insufficient_scope');
    await expectJsonError(await addBook(access_token), 403, 'insufficient_scope');
  });
});

describe('scope elevation at the resource server (RFC 6750 §3.1, RFC 9068 §4)', () => {
  it('RFC 6750 §3.1: a books:read token cannot POST /api/books: 403 insufficient_scope naming books:write, nothing added', async () => {
    const { browser, client } = await victim();
    const { access_token } = await issueTokens(browser, client, { scope: 'books:read' });
    const before = await bookCount(access_token);
    const response = await addBook(access_token);
    expect(response.headers.get('WWW-Authenticate')).toMatch(/error="insufficient_scope"/);
    expect(response.headers.get('WWW-Authenticate')).toMatch(/scope="books:write"/);
    await expectJsonError(response, 403, 'insufficient_scope');
    expect(await bookCount(access_token)).toBe(before);
  });

  it('RFC 9068 §4: an access token with its scope claim edited fails the signature: 401 invalid_token', async () => {
    const { browser, client } = await victim();
    const { access_token } = await issueTokens(browser, client, { scope: 'books:read' });
    const forged = tamperJwt(access_token, 'payload', (claims) => ({ ...claims, scope: 'books:read books:write' }));
    expect(decodeJwt(forged).payload.scope).toBe('books:read books:write');
    const response = await addBook(forged);
    expect(response.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
    await expectJsonError(response, 401, 'invalid_token');
    await expectJsonError(await call('/api/books', { headers: bearer(forged) }), 401, 'invalid_token');
  });

  it('RFC 8725 §3.1: an access token re-signed with alg none, or stripped of its signature, is 401 invalid_token', async () => {
    const { browser, client } = await victim();
    const { access_token } = await issueTokens(browser, client, { scope: 'books:read' });
    const widened = tamperJwt(access_token, 'payload', (claims) => ({ ...claims, scope: 'books:read books:write' }));
    const unsigned = tamperJwt(widened, 'header', (header) => ({ ...header, alg: 'none' }));
    const [header, payload] = unsigned.split('.');
    await expectJsonError(await addBook(`${header}.${payload}.`), 401, 'invalid_token');
    const [h, p] = widened.split('.');
    await expectJsonError(await addBook(`${h}.${p}.`), 401, 'invalid_token');
  });
});
