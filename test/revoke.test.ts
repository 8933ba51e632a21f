import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  codeFields,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  introspectAs,
  issueTokens,
  json,
  postAsClient,
  type RegisteredClient,
  refreshAs,
  registerClient,
  revokeAs,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';

const REVOKE = '/oauth2/revoke';
const BOOKS = '/api/books';

interface Tokens {
  access_token: string;
  refresh_token: string;
}

let ownerToken: string;
let browser: Browser;

beforeAll(async () => {
  const [owner, user] = await Promise.all([createUser(), createUser({ name: 'Revoke Tester' })]);
  ownerToken = await userToken(owner);
  browser = await signedInBrowser(user);
});

/** A confidential client that gets refresh tokens (RFC 6749 §6). */
function refreshingClient(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  return registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'], ...metadata });
}

/** Access and refresh token of one authorization of `client` by the describe's user. */
async function tokensOf(client: RegisteredClient, scope = 'books:read offline_access'): Promise<Tokens> {
  const tokens = await issueTokens(browser, client, { scope });
  expect(tokens.refresh_token, 'a refresh token').toEqual(expect.any(String));
  return tokens as unknown as Tokens;
}

/** issueTokens for a client_secret_post client (redeem() sends Basic whenever there is a secret). */
async function issuePostTokens(client: RegisteredClient): Promise<{ access_token: string }> {
  const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
  const response = await form('/oauth2/token', {
    ...codeFields(authorization),
    client_id: client.client_id,
    client_secret: client.client_secret!,
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { access_token: string };
}

async function expectBooksOk(accessToken: string): Promise<void> {
  const response = await call(BOOKS, { headers: bearer(accessToken) });
  expect(response.status, await response.clone().text()).toBe(200);
}

async function expectBooksRefused(accessToken: string): Promise<void> {
  const response = await call(BOOKS, { headers: bearer(accessToken) });
  expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
  await expectJsonError(response, 401, 'invalid_token');
}

/** The refresh token still rotates: 200 with a new refresh token. Returns it. */
async function expectRefreshWorks(client: RegisteredClient, refreshToken: string): Promise<string> {
  const response = await refreshAs(client, refreshToken);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  const body = JSON.parse(text) as { refresh_token: string };
  expect(body.refresh_token).toEqual(expect.any(String));
  return body.refresh_token;
}

async function revokedRow(jti: string): Promise<{ jti: string; expires_at: number } | null> {
  return env.DB.prepare('select jti, expires_at from revoked_tokens where jti = ?').bind(jti).first();
}

describe('POST /oauth2/revoke', () => {
  describe('access tokens', () => {
    it('revokes an access token by its jti: 401 at /api/books and inactive, while another token of the same grant still works', async () => {
      const client = await registerClient(ownerToken);
      const first = await issueTokens(browser, client, { scope: 'books:read' });
      const second = await issueTokens(browser, client, { scope: 'books:read' });
      const [a, b] = [decodeJwt(first.access_token).payload, decodeJwt(second.access_token).payload];
      expect(a.gid).toBe(b.gid);
      expect(a.jti).not.toBe(b.jti);
      await expectBooksOk(first.access_token);

      await revokeAs(client, first.access_token);

      expect(await revokedRow(a.jti as string)).toEqual({ jti: a.jti, expires_at: a.exp });
      await expectBooksRefused(first.access_token);
      expect(await introspectAs(client, first.access_token)).toEqual({ active: false });
      await expectBooksOk(second.access_token);
      expect(await introspectAs(client, second.access_token)).toMatchObject({ active: true, jti: b.jti });
    });

    it('accepts client_secret_post', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
      const tokens = await issuePostTokens(client);
      const response = await form(REVOKE, {
        token: tokens.access_token,
        client_id: client.client_id,
        client_secret: client.client_secret!,
      });
      expect(response.status, await response.clone().text()).toBe(200);
      expect(await response.text()).toBe('');
      await expectBooksRefused(tokens.access_token);
    });

    it('lets a public client (none) revoke its own access token with client_id alone', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      await expectBooksOk(tokens.access_token);
      await revokeAs(client, tokens.access_token);
      await expectBooksRefused(tokens.access_token);
    });

    it('answers 200 again when the token is revoked a second time', async () => {
      const client = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      await revokeAs(client, tokens.access_token);
      await revokeAs(client, tokens.access_token);
      await expectBooksRefused(tokens.access_token);
    });
  });

  describe('refresh tokens', () => {
    it('revokes the whole grant: the refresh token gets invalid_grant and the grant’s access tokens 401', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      // A second authorization of the same grant: its access token must go too.
      const other = await tokensOf(client);
      await expectBooksOk(tokens.access_token);

      await revokeAs(client, tokens.refresh_token);

      await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
      await expectJsonError(await refreshAs(client, other.refresh_token), 400, 'invalid_grant');
      await expectBooksRefused(tokens.access_token);
      await expectBooksRefused(other.access_token);
      expect(await introspectAs(client, tokens.refresh_token)).toEqual({ active: false });
      expect(await introspectAs(client, tokens.access_token)).toEqual({ active: false });
    });

    it('revokes a public client’s offline_access refresh token', async () => {
      const client = await registerClient(ownerToken, {
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
      });
      const tokens = await tokensOf(client, 'openid offline_access books:read');
      await revokeAs(client, tokens.refresh_token);
      await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
      await expectBooksRefused(tokens.access_token);
    });

    it('revokes the successor of a rotation, ending the family', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const next = await expectRefreshWorks(client, tokens.refresh_token);
      await revokeAs(client, next);
      await expectJsonError(await refreshAs(client, next), 400, 'invalid_grant');
      await expectBooksRefused(tokens.access_token);
    });
    it('leaves nothing alive when a refresh races its revocation', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const [refreshed] = await Promise.all([refreshAs(client, tokens.refresh_token), revokeAs(client, tokens.refresh_token)]);
      const text = await refreshed.text();
      if (refreshed.status === 200) {
        // The refresh won: its successor belongs to the revoked grant and must be dead too.
        const next = JSON.parse(text) as Tokens;
        await expectJsonError(await refreshAs(client, next.refresh_token), 400, 'invalid_grant');
        await expectBooksRefused(next.access_token);
      } else {
        expect(JSON.parse(text)).toMatchObject({ error: 'invalid_grant' });
        expect(refreshed.status).toBe(400);
      }
      await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
      await expectBooksRefused(tokens.access_token);
    });
  });

  describe('token_type_hint (RFC 7009 §2.1)', () => {
    const hints = ['access_token', 'refresh_token', 'id_token', 'not-a-type'];
    for (const hint of hints) {
      it(`revokes an access token whatever the hint says (hint ${hint})`, async () => {
        const client = await refreshingClient();
        const tokens = await tokensOf(client);
        await revokeAs(client, tokens.access_token, { token_type_hint: hint });
        await expectBooksRefused(tokens.access_token);
        // Only that access token: the refresh token and its grant stand.
        await expectRefreshWorks(client, tokens.refresh_token);
      });

      it(`revokes a refresh token whatever the hint says (hint ${hint})`, async () => {
        const client = await refreshingClient();
        const tokens = await tokensOf(client);
        await revokeAs(client, tokens.refresh_token, { token_type_hint: hint });
        await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
        await expectBooksRefused(tokens.access_token);
      });
    }
  });

  describe('tokens that are not the caller’s to revoke', () => {
    it('answers an unknown or garbage token with 200 and an empty body, and revokes nothing', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const garbage = [
        unique('garbage'),
        'a.b.c',
        'x'.repeat(4096),
        tokens.refresh_token.slice(0, -2),
        `${tokens.access_token.slice(0, -4)}AAAA`,
      ];
      for (const token of garbage) await revokeAs(client, token);
      await expectBooksOk(tokens.access_token);
      await expectRefreshWorks(client, tokens.refresh_token);
    });

    it('answers 200 to client B presenting client A’s tokens, and revokes nothing of A’s', async () => {
      const clientA = await refreshingClient();
      const clientB = await refreshingClient();
      const publicB = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
      const tokens = await tokensOf(clientA);
      for (const thief of [clientB, publicB]) {
        for (const hint of ['access_token', 'refresh_token']) {
          await revokeAs(thief, tokens.access_token, { token_type_hint: hint });
          await revokeAs(thief, tokens.refresh_token, { token_type_hint: hint });
        }
      }
      expect(await revokedRow(decodeJwt(tokens.access_token).payload.jti as string)).toBeNull();
      await expectBooksOk(tokens.access_token);
      expect(await introspectAs(clientA, tokens.access_token)).toMatchObject({ active: true });
      expect(await introspectAs(clientA, tokens.refresh_token)).toMatchObject({ active: true });
      await expectRefreshWorks(clientA, tokens.refresh_token);
    });

    it('does not let the user API token or an ID token revoke anything', async () => {
      const client = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'openid books:read' });
      await revokeAs(client, tokens.id_token!);
      await revokeAs(client, ownerToken);
      await expectBooksOk(tokens.access_token);
    });
  });

  describe('client authentication', () => {
    it('refuses a wrong secret via Basic with 401 invalid_client and WWW-Authenticate, and revokes nothing', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      for (const token of [tokens.access_token, tokens.refresh_token]) {
        const response = await form(REVOKE, { token }, { Authorization: basic(client.client_id, 'not-the-secret') });
        expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic realm="tollgate"/);
        await expectJsonError(response, 401, 'invalid_client');
      }
      await expectBooksOk(tokens.access_token);
      await expectRefreshWorks(client, tokens.refresh_token);
    });

    it('refuses a wrong secret via client_secret_post with 401 invalid_client', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
      const tokens = await issuePostTokens(client);
      const response = await form(REVOKE, { token: tokens.access_token, client_id: client.client_id, client_secret: 'wrong' });
      await expectJsonError(response, 401, 'invalid_client');
      await expectBooksOk(tokens.access_token);
    });

    it('refuses a request with no client authentication with 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      await expectJsonError(await form(REVOKE, { token: tokens.access_token }), 401, 'invalid_client');
      await expectBooksOk(tokens.access_token);
    });

    it('refuses Basic credentials with a different client_id in the body with 400 invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const other = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      const response = await form(
        REVOKE,
        { token: tokens.access_token, client_id: other.client_id },
        { Authorization: basic(client.client_id, client.client_secret!) },
      );
      await expectJsonError(response, 400, 'invalid_request');
      await expectBooksOk(tokens.access_token);
    });

    it('refuses a confidential client that sends only its client_id, and an unknown client', async () => {
      const client = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      await expectJsonError(await form(REVOKE, { token: tokens.access_token, client_id: client.client_id }), 401, 'invalid_client');
      await expectJsonError(await form(REVOKE, { token: tokens.access_token, client_id: unique('ghost') }), 401, 'invalid_client');
      await expectJsonError(
        await form(REVOKE, { token: tokens.access_token }, { Authorization: basic(unique('ghost'), 'secret') }),
        401,
        'invalid_client',
      );
      await expectBooksOk(tokens.access_token);
    });
  });

  describe('malformed requests', () => {
    it('refuses a missing or empty token with 400 invalid_request', async () => {
      const client = await registerClient(ownerToken);
      await expectJsonError(await postAsClient(REVOKE, client, {}), 400, 'invalid_request');
      await expectJsonError(await postAsClient(REVOKE, client, { token: '' }), 400, 'invalid_request');
    });

    it('refuses a repeated token with 400 invalid_request, and revokes neither', async () => {
      const client = await registerClient(ownerToken);
      const first = await issueTokens(browser, client, { scope: 'books:read' });
      const second = await issueTokens(browser, client, { scope: 'books:read' });
      const body = new URLSearchParams([
        ['token', first.access_token],
        ['token', second.access_token],
      ]).toString();
      const response = await call(REVOKE, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body,
      });
      await expectJsonError(response, 400, 'invalid_request');
      await expectBooksOk(first.access_token);
      await expectBooksOk(second.access_token);
    });

    it('refuses a JSON body with 415 and revokes nothing', async () => {
      const client = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, client, { scope: 'books:read' });
      const response = await json(
        REVOKE,
        { token: tokens.access_token },
        { headers: { Authorization: basic(client.client_id, client.client_secret!) } },
      );
      await expectJsonError(response, 415, 'invalid_request');
      await expectBooksOk(tokens.access_token);
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const client = await registerClient(ownerToken);
      const response = await postAsClient(REVOKE, client, { token: 't', padding: 'p'.repeat(70 * 1024) });
      await expectJsonError(response, 413, 'invalid_request');
    });
  });
});
