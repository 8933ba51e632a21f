import { env } from 'cloudflare:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  basic,
  bearer,
  call,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  ISSUER,
  introspectAs,
  json,
  postAsClient,
  type RegisteredClient,
  registerClient,
  revokeAs,
  userToken,
} from './helpers';

const TOKEN = '/oauth2/token';
const BOOKS = '/api/books';

let ownerToken: string;

beforeAll(async () => {
  ownerToken = await userToken(await createUser({ name: 'Service Owner' }));
});

/** A confidential client registered for client_credentials only, with the given scope. */
function serviceClient(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  return registerClient(ownerToken, {
    client_name: 'Nightly Sync',
    redirect_uris: [],
    grant_types: ['client_credentials'],
    scope: 'books:read books:write',
    ...metadata,
  });
}

function clientCredentials(client: RegisteredClient, fields: Record<string, string> = {}): Promise<Response> {
  return postAsClient(TOKEN, client, { grant_type: 'client_credentials', ...fields });
}

async function expectTokens(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  return JSON.parse(text) as Record<string, unknown>;
}

async function accessTokenOf(client: RegisteredClient, scope = 'books:read'): Promise<string> {
  return (await expectTokens(await clientCredentials(client, { scope }))).access_token as string;
}

describe('POST /oauth2/token (client_credentials)', () => {
  describe('success', () => {
    it('issues an RFC 9068 access token for the client itself: sub = client_id, no refresh token, no ID token', async () => {
      const client = await serviceClient();
      const tokens = await expectTokens(await clientCredentials(client, { scope: 'books:read' }));
      expect(Object.keys(tokens).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
      expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'books:read' });

      const jwks = createLocalJWKSet(await (await call('/.well-known/jwks.json')).json());
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token as string, jwks, {
        issuer: ISSUER,
        audience: `${ISSUER}/api/books`,
        typ: 'at+jwt',
      });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload).toMatchObject({ sub: client.client_id, client_id: client.client_id, scope: 'books:read' });
      expect(payload).not.toHaveProperty('auth_time');
    });

    it('accepts client_secret_post', async () => {
      const client = await serviceClient({ token_endpoint_auth_method: 'client_secret_post' });
      const response = await form(TOKEN, {
        grant_type: 'client_credentials',
        scope: 'books:write',
        client_id: client.client_id,
        client_secret: client.client_secret!,
      });
      const tokens = await expectTokens(response);
      expect(tokens.scope).toBe('books:write');
      expect(decodeJwt(tokens.access_token as string).payload.sub).toBe(client.client_id);
    });

    it('gives exactly the scope asked for, within the registration', async () => {
      const client = await serviceClient();
      for (const scope of ['books:read', 'books:write', 'books:read books:write']) {
        const tokens = await expectTokens(await clientCredentials(client, { scope }));
        expect(tokens.scope, scope).toBe(scope);
        expect(decodeJwt(tokens.access_token as string).payload.scope, scope).toBe(scope);
      }
    });

    it('falls back to the registered scope when none is asked for (RFC 6749 §3.3)', async () => {
      const client = await serviceClient({ scope: 'books:read' });
      const tokens = await expectTokens(await clientCredentials(client));
      expect(tokens.scope).toBe('books:read');
    });

    it('gives no refresh token or ID token to a client registered for every grant', async () => {
      const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
      const tokens = await expectTokens(await clientCredentials(client, { scope: 'books:read' }));
      expect(tokens).not.toHaveProperty('refresh_token');
      expect(tokens).not.toHaveProperty('id_token');
      expect(decodeJwt(tokens.access_token as string).payload.sub).toBe(client.client_id);
    });

    it('issues a distinct token per request', async () => {
      const client = await serviceClient();
      const [a, b] = [await accessTokenOf(client), await accessTokenOf(client)];
      expect(decodeJwt(a).payload.jti).not.toBe(decodeJwt(b).payload.jti);
    });
  });

  describe('scope', () => {
    for (const scope of ['openid', 'profile', 'email', 'offline_access', 'openid books:read', 'books:read offline_access']) {
      it(`refuses ${scope}, which needs a user, with 400 invalid_scope, even for a client registered without a scope`, async () => {
        const client = await serviceClient({ scope: undefined });
        const response = await clientCredentials(client, { scope });
        const body = await expectJsonError(response, 400, 'invalid_scope');
        expect(body.error_description).toEqual(expect.any(String));
      });
    }

    it('refuses a scope the client registered when that scope needs a user', async () => {
      const client = await serviceClient({ scope: 'openid books:read' });
      await expectJsonError(await clientCredentials(client, { scope: 'openid' }), 400, 'invalid_scope');
      // Its default (the registered scope) includes openid, so it is refused as well.
      await expectJsonError(await clientCredentials(client), 400, 'invalid_scope');
      await expectTokens(await clientCredentials(client, { scope: 'books:read' }));
    });

    it('refuses a scope outside the registration with 400 invalid_scope', async () => {
      const client = await serviceClient({ scope: 'books:read' });
      await expectJsonError(await clientCredentials(client, { scope: 'books:write' }), 400, 'invalid_scope');
      await expectJsonError(await clientCredentials(client, { scope: 'books:read books:write' }), 400, 'invalid_scope');
    });

    it('refuses an unknown scope with 400 invalid_scope', async () => {
      const client = await serviceClient();
      await expectJsonError(await clientCredentials(client, { scope: 'books:delete' }), 400, 'invalid_scope');
      await expectJsonError(await clientCredentials(client, { scope: 'admin' }), 400, 'invalid_scope');
    });

    it('refuses a client registered without a scope that asks for none: 400 invalid_scope', async () => {
      const client = await serviceClient({ scope: undefined });
      await expectJsonError(await clientCredentials(client), 400, 'invalid_scope');
    });
  });

  describe('which clients may use it', () => {
    it('refuses a confidential client not registered for client_credentials with 400 unauthorized_client', async () => {
      const client = await registerClient(ownerToken);
      await expectJsonError(await clientCredentials(client, { scope: 'books:read' }), 400, 'unauthorized_client');
    });

    it('refuses a public client with 400 unauthorized_client', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
      await expectJsonError(await clientCredentials(client, { scope: 'books:read' }), 400, 'unauthorized_client');
    });

    it('does not let a public client register for it: 400 invalid_client_metadata', async () => {
      const response = await json(
        '/oauth2/register',
        { client_name: 'SPA', redirect_uris: [], token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] },
        { headers: bearer(ownerToken) },
      );
      await expectJsonError(response, 400, 'invalid_client_metadata');
      const both = await json(
        '/oauth2/register',
        {
          client_name: 'SPA',
          redirect_uris: ['https://spa.example/cb'],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'client_credentials'],
        },
        { headers: bearer(ownerToken) },
      );
      await expectJsonError(both, 400, 'invalid_client_metadata');
    });

    it('refuses a wrong secret with 401 invalid_client', async () => {
      const client = await serviceClient();
      const response = await form(
        TOKEN,
        { grant_type: 'client_credentials', scope: 'books:read' },
        { Authorization: basic(client.client_id, 'wrong') },
      );
      expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic /);
      await expectJsonError(response, 401, 'invalid_client');
    });

    it('refuses no client authentication with 401 invalid_client', async () => {
      await expectJsonError(await form(TOKEN, { grant_type: 'client_credentials', scope: 'books:read' }), 401, 'invalid_client');
    });
  });

  describe('the token', () => {
    let client: RegisteredClient;

    beforeAll(async () => {
      client = await serviceClient();
    });

    it('is refused by /api/books with 403 insufficient_scope: it acts for no user', async () => {
      const token = await accessTokenOf(client, 'books:read books:write');
      const read = await call(BOOKS, { headers: bearer(token) });
      expect(read.headers.get('WWW-Authenticate')).toContain('error="insufficient_scope"');
      await expectJsonError(read, 403, 'insufficient_scope');
      const write = await json(BOOKS, { title: 'Orphan', author: 'Nobody' }, { headers: bearer(token) });
      await expectJsonError(write, 403, 'insufficient_scope');
      const stored = await env.DB.prepare('select count(*) as n from books where title = ?').bind('Orphan').first<{ n: number }>();
      expect(stored!.n).toBe(0);
    });

    it('is refused by /oauth2/userinfo with 403 insufficient_scope', async () => {
      const token = await accessTokenOf(client);
      for (const method of ['GET', 'POST']) {
        await expectJsonError(await call('/oauth2/userinfo', { method, headers: bearer(token) }), 403, 'insufficient_scope');
      }
    });

    it('introspects active for its own client, with sub = client_id and no username', async () => {
      const token = await accessTokenOf(client);
      const claims = decodeJwt(token).payload;
      expect(await introspectAs(client, token)).toEqual({
        active: true,
        token_type: 'Bearer',
        scope: 'books:read',
        client_id: client.client_id,
        sub: client.client_id,
        iss: ISSUER,
        aud: `${ISSUER}/api/books`,
        iat: claims.iat,
        exp: claims.exp,
        jti: claims.jti,
      });
    });

    it('introspects inactive for another client', async () => {
      const token = await accessTokenOf(client);
      const other = await serviceClient();
      expect(await introspectAs(other, token)).toEqual({ active: false });
    });

    it('can be revoked: inactive, and 401 invalid_token at /api/books; other tokens of the client stand', async () => {
      const token = await accessTokenOf(client);
      const other = await accessTokenOf(client);
      await revokeAs(client, token);
      expect(await introspectAs(client, token)).toEqual({ active: false });
      await expectJsonError(await call(BOOKS, { headers: bearer(token) }), 401, 'invalid_token');
      expect(await introspectAs(client, other)).toMatchObject({ active: true });
      // The client itself still gets new tokens.
      await accessTokenOf(client);
    });

    it('dies with its client: after DELETE /api/clients/:id the client cannot authenticate and the token is invalid', async () => {
      const doomed = await serviceClient();
      const token = await accessTokenOf(doomed);
      expect(await introspectAs(doomed, token)).toMatchObject({ active: true });
      await expectJsonError(await call(BOOKS, { headers: bearer(token) }), 403, 'insufficient_scope');

      const deleted = await call(`/api/clients/${doomed.client_id}`, { method: 'DELETE', headers: bearer(ownerToken) });
      expect(deleted.status).toBe(204);

      await expectJsonError(await postAsClient('/oauth2/introspect', doomed, { token }), 401, 'invalid_client');
      await expectJsonError(await clientCredentials(doomed, { scope: 'books:read' }), 401, 'invalid_client');
      // 401 now, not 403: the token no longer stands at all.
      await expectJsonError(await call(BOOKS, { headers: bearer(token) }), 401, 'invalid_token');
      const grants = await env.DB.prepare('select count(*) as n from grants where client_id = ?')
        .bind(doomed.client_id)
        .first<{ n: number }>();
      expect(grants!.n).toBe(0);
    });
  });
});
