import { env } from 'cloudflare:test';
import { importJWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  formAction,
  hiddenFields,
  ISSUER,
  introspectAs,
  issueTokens,
  json,
  postAsClient,
  type RegisteredClient,
  refreshAs,
  registerClient,
  revokeAs,
  signedInBrowser,
  storedHash,
  type TestUser,
  unique,
  userToken,
} from './helpers';

const INTROSPECT = '/oauth2/introspect';
const INACTIVE = { active: false };

interface Tokens {
  access_token: string;
  refresh_token: string;
  id_token?: string;
  scope: string;
}

let ownerToken: string;
let user: TestUser;
let browser: Browser;

beforeAll(async () => {
  const [owner, reader] = await Promise.all([createUser(), createUser({ name: 'Introspection Reader' })]);
  ownerToken = await userToken(owner);
  user = reader;
  browser = await signedInBrowser(user);
});

/** A confidential client that gets refresh tokens. */
function refreshingClient(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  return registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'], ...metadata });
}

async function tokensOf(client: RegisteredClient, scope = 'openid books:read offline_access'): Promise<Tokens> {
  const tokens = await issueTokens(browser, client, { scope });
  expect(tokens.refresh_token, 'a refresh token').toEqual(expect.any(String));
  return tokens as unknown as Tokens;
}

/**
 * Re-signs an access token's claims with Tollgate's current signing key from D1,
 * with `iat` and `exp` changed: a token exactly like one Tollgate would have
 * issued at another time.
 */
async function resign(accessToken: string, times: { iat: number; exp: number }): Promise<string> {
  const { header, payload } = decodeJwt(accessToken);
  const row = await env.DB.prepare('select private_jwk from signing_keys where kid = ?').bind(header.kid).first<{ private_jwk: string }>();
  expect(row, 'the signing key of the token').not.toBeNull();
  const key = await importJWK(JSON.parse(row!.private_jwk), 'ES256');
  return new SignJWT({ ...payload, ...times }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: header.kid as string }).sign(key);
}

describe('POST /oauth2/introspect', () => {
  describe('client authentication (RFC 7662 §2.1)', () => {
    let client: RegisteredClient;
    let tokens: Tokens;

    beforeAll(async () => {
      client = await refreshingClient();
      tokens = await tokensOf(client);
    });

    it('answers a request without client authentication with 401 invalid_client', async () => {
      const response = await form(INTROSPECT, { token: tokens.access_token });
      expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic realm="tollgate"/);
      const body = await expectJsonError(response, 401, 'invalid_client');
      expect(body).not.toHaveProperty('active');
    });

    it('answers a wrong secret, by Basic or by post, with 401 invalid_client', async () => {
      await expectJsonError(
        await form(INTROSPECT, { token: tokens.access_token }, { Authorization: basic(client.client_id, 'wrong') }),
        401,
        'invalid_client',
      );
      await expectJsonError(
        await form(INTROSPECT, { token: tokens.access_token, client_id: client.client_id, client_secret: 'wrong' }),
        401,
        'invalid_client',
      );
    });

    it('answers a confidential client sending only its client_id, and an unknown client, with 401 invalid_client', async () => {
      await expectJsonError(await form(INTROSPECT, { token: tokens.access_token, client_id: client.client_id }), 401, 'invalid_client');
      await expectJsonError(
        await form(INTROSPECT, { token: tokens.access_token }, { Authorization: basic(unique('ghost'), 'x') }),
        401,
        'invalid_client',
      );
    });

    it('answers a public client (none), even about its own token, with 401 invalid_client', async () => {
      const spa = await registerClient(ownerToken, {
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
      });
      const own = await tokensOf(spa);
      for (const token of [own.access_token, own.refresh_token]) {
        const body = await expectJsonError(await form(INTROSPECT, { token, client_id: spa.client_id }), 401, 'invalid_client');
        expect(body).not.toHaveProperty('active');
      }
    });

    it('answers a malformed Basic header with 401 invalid_client', async () => {
      await expectJsonError(await form(INTROSPECT, { token: tokens.access_token }, { Authorization: 'Basic !!!' }), 401, 'invalid_client');
    });
  });

  describe('active tokens', () => {
    it('describes an active access token: Bearer, scope, client_id, sub, username, iss, aud, iat, exp, jti', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client, 'openid profile email books:read');
      const claims = decodeJwt(tokens.access_token).payload;
      expect(await introspectAs(client, tokens.access_token)).toEqual({
        active: true,
        token_type: 'Bearer',
        scope: 'openid profile email books:read',
        client_id: client.client_id,
        sub: user.id,
        username: user.email,
        iss: ISSUER,
        aud: `${ISSUER}/api/books`,
        iat: claims.iat,
        exp: claims.exp,
        jti: claims.jti,
      });
    });

    it('answers the same to client_secret_post, and whatever the token_type_hint', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
      const { code, verifier, redirectUri } = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      const credentials = { client_id: client.client_id, client_secret: client.client_secret! };
      const issued = await form('/oauth2/token', {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        ...credentials,
      });
      expect(issued.status, await issued.clone().text()).toBe(200);
      const { access_token: accessToken } = (await issued.json()) as { access_token: string };
      for (const hint of [undefined, 'access_token', 'refresh_token', 'bogus']) {
        const response = await form(INTROSPECT, { token: accessToken, ...credentials, ...(hint ? { token_type_hint: hint } : {}) });
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ active: true, token_type: 'Bearer', client_id: client.client_id, sub: user.id });
      }
    });

    it('describes an active refresh token: token_type refresh_token, scope, client_id, sub, username, iss, iat, exp', async () => {
      const client = await refreshingClient();
      const before = Math.floor(Date.now() / 1000);
      const tokens = await tokensOf(client, 'openid email books:read offline_access');
      const body = await introspectAs(client, tokens.refresh_token, { token_type_hint: 'refresh_token' });
      expect(body).toEqual({
        active: true,
        token_type: 'refresh_token',
        scope: 'openid email books:read offline_access',
        client_id: client.client_id,
        sub: user.id,
        username: user.email,
        iss: ISSUER,
        iat: expect.any(Number),
        exp: expect.any(Number),
      });
      expect(body.iat as number).toBeGreaterThanOrEqual(before - 1);
      // Idle lifetime: 30 days from issue.
      expect(body.exp).toBe((body.iat as number) + 30 * 24 * 60 * 60);
    });

    it('describes the successor of a rotated refresh token as active', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const rotated = await refreshAs(client, tokens.refresh_token);
      expect(rotated.status, await rotated.clone().text()).toBe(200);
      const next = (await rotated.json()) as { refresh_token: string; access_token: string };
      expect(await introspectAs(client, next.refresh_token)).toMatchObject({ active: true, token_type: 'refresh_token' });
      expect(await introspectAs(client, next.access_token)).toMatchObject({ active: true, token_type: 'Bearer' });
    });
  });

  describe('inactive tokens: exactly {active:false} (RFC 7662 §2.2)', () => {
    it('for an access token revoked at /oauth2/revoke', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      await revokeAs(client, tokens.access_token);
      expect(await introspectAs(client, tokens.access_token)).toEqual(INACTIVE);
      // Only that access token: the refresh token stands.
      expect(await introspectAs(client, tokens.refresh_token)).toMatchObject({ active: true });
    });

    it('for a refresh token revoked at /oauth2/revoke, and for its grant’s access token', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      await revokeAs(client, tokens.refresh_token);
      expect(await introspectAs(client, tokens.refresh_token)).toEqual(INACTIVE);
      expect(await introspectAs(client, tokens.access_token)).toEqual(INACTIVE);
    });

    it('for the access and refresh tokens of an app revoked on /account', async () => {
      const client = await refreshingClient({ client_name: `Introspected ${unique()}` });
      const tokens = await tokensOf(client);
      const html = await (await browser.get('/account')).text();
      const item = html.split('<li>').find((chunk) => chunk.includes(client.client_name as string));
      expect(item, 'the app on /account').toBeDefined();
      const revoked = await browser.post(formAction(item!), hiddenFields(item!));
      expect(revoked.status).toBe(303);
      expect(await introspectAs(client, tokens.access_token)).toEqual(INACTIVE);
      expect(await introspectAs(client, tokens.refresh_token)).toEqual(INACTIVE);
      const books = await call('/api/books', { headers: bearer(tokens.access_token) });
      await expectJsonError(books, 401, 'invalid_token');
    });

    it('for tokens of a client deleted with DELETE /api/clients/:id: the client cannot authenticate and the token is dead', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      expect(await introspectAs(client, tokens.access_token)).toMatchObject({ active: true });
      const deleted = await call(`/api/clients/${client.client_id}`, { method: 'DELETE', headers: bearer(ownerToken) });
      expect(deleted.status).toBe(204);
      await expectJsonError(await postAsClient(INTROSPECT, client, { token: tokens.access_token }), 401, 'invalid_client');
      await expectJsonError(await call('/api/books', { headers: bearer(tokens.access_token) }), 401, 'invalid_token');
      const left = await env.DB.prepare('select count(*) as n from refresh_tokens where hash = ?')
        .bind(await storedHash(tokens.refresh_token))
        .first<{ n: number }>();
      expect(left!.n).toBe(0);
    });

    it('for a refresh token past its idle expiry, and one past its absolute expiry', async () => {
      const client = await refreshingClient();
      const idle = await tokensOf(client);
      const absolute = await tokensOf(client);
      const past = Math.floor(Date.now() / 1000) - 1;
      await env.DB.prepare('update refresh_tokens set expires_at = ? where hash = ?')
        .bind(past, await storedHash(idle.refresh_token))
        .run();
      await env.DB.prepare('update refresh_tokens set absolute_expires_at = ? where hash = ?')
        .bind(past, await storedHash(absolute.refresh_token))
        .run();
      expect(await introspectAs(client, idle.refresh_token)).toEqual(INACTIVE);
      expect(await introspectAs(client, absolute.refresh_token)).toEqual(INACTIVE);
      // The control: an untouched token of the same grant is still active.
      const fresh = await tokensOf(client);
      expect(await introspectAs(client, fresh.refresh_token)).toMatchObject({ active: true });
    });

    it('for an expired access token signed by Tollgate’s own key', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const time = Math.floor(Date.now() / 1000);
      const stillValid = await resign(tokens.access_token, { iat: time - 60, exp: time + 60 });
      const expired = await resign(tokens.access_token, { iat: time - 700, exp: time - 100 });
      // The control proves the re-signed token is one Tollgate accepts.
      expect(await introspectAs(client, stillValid)).toMatchObject({ active: true, exp: time + 60 });
      expect(await introspectAs(client, expired)).toEqual(INACTIVE);
    });

    it('for a rotated (used) refresh token', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const rotated = await refreshAs(client, tokens.refresh_token);
      expect(rotated.status, await rotated.clone().text()).toBe(200);
      expect(await introspectAs(client, tokens.refresh_token)).toEqual(INACTIVE);
      expect(await introspectAs(client, tokens.refresh_token, { token_type_hint: 'refresh_token' })).toEqual(INACTIVE);
    });

    it('for garbage, a truncated or altered token, the user API token and an ID token', async () => {
      const client = await refreshingClient();
      const tokens = await tokensOf(client);
      const candidates = [
        unique('garbage'),
        'a.b.c',
        'x'.repeat(4096),
        tokens.refresh_token.slice(0, -1),
        `${tokens.access_token.slice(0, -4)}AAAA`,
        await userToken(user),
        tokens.id_token!,
      ];
      for (const token of candidates) expect(await introspectAs(client, token), token.slice(0, 40)).toEqual(INACTIVE);
    });

    it('for another client’s access and refresh tokens, which stay active for their own client', async () => {
      const clientA = await refreshingClient();
      const clientB = await refreshingClient();
      const tokens = await tokensOf(clientA);
      for (const token of [tokens.access_token, tokens.refresh_token]) {
        for (const hint of [{}, { token_type_hint: 'access_token' }, { token_type_hint: 'refresh_token' }] as Record<string, string>[]) {
          expect(await introspectAs(clientB, token, hint)).toEqual(INACTIVE);
        }
        expect(await introspectAs(clientA, token)).toMatchObject({ active: true, client_id: clientA.client_id });
      }
    });
  });

  describe('malformed requests', () => {
    let client: RegisteredClient;

    beforeAll(async () => {
      client = await registerClient(ownerToken);
    });

    it('refuses a missing or empty token with 400 invalid_request', async () => {
      await expectJsonError(await postAsClient(INTROSPECT, client, {}), 400, 'invalid_request');
      await expectJsonError(await postAsClient(INTROSPECT, client, { token: '' }), 400, 'invalid_request');
    });

    it('refuses a repeated token with 400 invalid_request', async () => {
      const response = await call(INTROSPECT, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body: 'token=a&token=b',
      });
      await expectJsonError(response, 400, 'invalid_request');
    });

    it('refuses a token over 4096 characters with 400 invalid_request', async () => {
      await expectJsonError(await postAsClient(INTROSPECT, client, { token: 'x'.repeat(4097) }), 400, 'invalid_request');
    });

    it('refuses a JSON body with 415', async () => {
      const response = await json(
        INTROSPECT,
        { token: 'x' },
        { headers: { Authorization: basic(client.client_id, client.client_secret!) } },
      );
      await expectJsonError(response, 415, 'invalid_request');
    });

    it('refuses a body over 64 KiB with 413', async () => {
      await expectJsonError(await postAsClient(INTROSPECT, client, { token: 'x', padding: 'p'.repeat(70 * 1024) }), 413, 'invalid_request');
    });

    it('does not answer GET', async () => {
      const response = await call(`${INTROSPECT}?token=x`, { headers: { Authorization: basic(client.client_id, client.client_secret!) } });
      expect([404, 405]).toContain(response.status);
      expect(await response.json()).not.toHaveProperty('active');
    });
  });
});
