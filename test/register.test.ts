import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { app } from '../src/index';
import {
  authorizeWithConsent,
  type Browser,
  b64url,
  basic,
  bearer,
  call,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  issueTokens,
  json,
  REDIRECT_URI,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

const REGISTER = '/oauth2/register';

function register(token: string, metadata: unknown): Promise<Response> {
  return json(REGISTER, metadata, { headers: bearer(token) });
}

async function sha256(text: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

async function clientRow(id: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare('select * from clients where id = ?').bind(id).first();
}

async function clientCount(ownerId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from clients where owner_id = ?').bind(ownerId).first<{ n: number }>();
  return row!.n;
}

async function listClients(token: string): Promise<{ response: Response; text: string; clients: Record<string, unknown>[] }> {
  const response = await call('/api/clients', { headers: bearer(token) });
  const text = await response.text();
  return { response, text, clients: response.status === 200 ? (JSON.parse(text) as Record<string, unknown>[]) : [] };
}

let owner: { id: string; token: string };
let other: { id: string; token: string };
let readerBrowser: Browser;

beforeAll(async () => {
  const [ownerUser, otherUser, reader] = await Promise.all([createUser(), createUser(), createUser({ name: 'Reader' })]);
  owner = { id: ownerUser.id, token: await userToken(ownerUser) };
  other = { id: otherUser.id, token: await userToken(otherUser) };
  readerBrowser = await signedInBrowser(reader);
});

describe('POST /oauth2/register', () => {
  describe('who may register', () => {
    it('a confidential client needs a user API token: 401 without one, with a Bearer challenge and no error code', async () => {
      const response = await json(REGISTER, { redirect_uris: [REDIRECT_URI] });
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="tollgate"');
      await expectJsonError(response, 401, 'invalid_token');
    });

    it('with OPEN_REGISTRATION off, even a public client needs a user API token: 401, nothing stored', async () => {
      const off = { ...env, OPEN_REGISTRATION: 'off' };
      const before = await env.DB.prepare('select count(*) as n from clients').first<{ n: number }>();
      const response = await app.request(
        `${ISSUER}${REGISTER}`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' }),
        },
        off,
      );
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="tollgate"');
      await expectJsonError(response, 401, 'invalid_token');
      const after = await env.DB.prepare('select count(*) as n from clients').first<{ n: number }>();
      expect(after!.n).toBe(before!.n);
      // A user with a token still registers.
      const owned = await app.request(
        `${ISSUER}${REGISTER}`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...bearer(owner.token) },
          body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' }),
        },
        off,
      );
      expect(owned.status).toBe(201);
      expect(await clientRow(((await owned.json()) as { client_id: string }).client_id)).toMatchObject({ owner_id: owner.id });
    });

    it('with OPEN_REGISTRATION public (the default), a public client registers without a token, owned by no one', async () => {
      const response = await json(REGISTER, { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
      expect(response.status).toBe(201);
      const body = (await response.json()) as { client_id: string; client_secret?: string };
      expect(body.client_secret).toBeUndefined();
      expect(await clientRow(body.client_id)).toMatchObject({ owner_id: null });
    });

    it('refuses a garbage token with 401 invalid_token', async () => {
      const response = await register('not.a.token', { redirect_uris: [REDIRECT_URI] });
      expect(response.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="tollgate", error="invalid_token"/);
      await expectJsonError(response, 401, 'invalid_token');
    });

    it('refuses a non-Bearer Authorization header with 401 invalid_token', async () => {
      const response = await json(REGISTER, { redirect_uris: [REDIRECT_URI] }, { headers: { Authorization: basic('a', 'b') } });
      await expectJsonError(response, 401, 'invalid_token');
    });

    it('refuses an access token or ID token issued to a client: they are not user API tokens', async () => {
      const client = await registerClient(owner.token);
      const tokens = await issueTokens(readerBrowser, client, { scope: 'openid books:read' });
      const before = await clientCount(owner.id);
      await expectJsonError(await register(tokens.access_token, { redirect_uris: [REDIRECT_URI] }), 401, 'invalid_token');
      await expectJsonError(await register(tokens.id_token!, { redirect_uris: [REDIRECT_URI] }), 401, 'invalid_token');
      expect(await clientCount(owner.id)).toBe(before);
    });
  });

  describe('a registration', () => {
    it('answers 201 with client_id, the secret once and client_secret_expires_at 0 for a confidential client', async () => {
      const response = await register(owner.token, { client_name: 'Reading List', redirect_uris: [REDIRECT_URI] });
      expect(response.status).toBe(201);
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        client_name: 'Reading List',
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        client_secret_expires_at: 0,
      });
      expect(body.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(body.client_id_issued_at).toEqual(expect.any(Number));
      expect(body).not.toHaveProperty('secret_hash');
      expect(body).not.toHaveProperty('secretHash');
    });

    it('gives no secret to a public client (token_endpoint_auth_method none)', async () => {
      const response = await register(owner.token, { redirect_uris: ['com.example.reader:/cb'], token_endpoint_auth_method: 'none' });
      expect(response.status).toBe(201);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.token_endpoint_auth_method).toBe('none');
      expect(body).not.toHaveProperty('client_secret');
      expect(body).not.toHaveProperty('client_secret_expires_at');
      expect((await clientRow(body.client_id as string))!.secret_hash).toBeNull();
    });

    it('stores the client secret only as its SHA-256 hash', async () => {
      const client = await registerClient(owner.token, { token_endpoint_auth_method: 'client_secret_post' });
      const secret = client.client_secret!;
      const row = await clientRow(client.client_id);
      expect(row).not.toBeNull();
      expect(row!.secret_hash).toBe(await sha256(secret));
      const { results } = await env.DB.prepare('select * from clients').all<Record<string, unknown>>();
      expect(results.length).toBeGreaterThan(0);
      for (const stored of results) {
        for (const value of Object.values(stored)) expect(String(value)).not.toContain(secret);
      }
    });

    it('accepts loopback and private-use redirect URIs (RFC 8252)', async () => {
      const uris = ['http://127.0.0.1:8080/cb', 'http://localhost:3000/callback', 'http://[::1]:9000/cb', 'com.example.reader:/oauth'];
      const client = await registerClient(owner.token, { redirect_uris: uris, token_endpoint_auth_method: 'none' });
      expect(client.redirect_uris).toEqual(uris);
    });

    it('accepts a registered scope and the refresh_token grant, and echoes them', async () => {
      const client = await registerClient(owner.token, {
        scope: 'openid books:read offline_access',
        grant_types: ['authorization_code', 'refresh_token'],
      });
      expect(client.scope).toBe('openid books:read offline_access');
      expect(client.grant_types).toEqual(['authorization_code', 'refresh_token']);
    });

    it('accepts client_credentials for a confidential client without redirect URIs', async () => {
      const response = await register(owner.token, { grant_types: ['client_credentials'] });
      expect(response.status, await response.clone().text()).toBe(201);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
      expect(body.client_secret).toEqual(expect.any(String));
    });

    it('ignores metadata fields it does not know (RFC 7591 §2)', async () => {
      const response = await register(owner.token, {
        redirect_uris: [REDIRECT_URI],
        logo_uri: 'https://app.example.com/logo.png',
        software_id: 'reader-1',
        jwks_uri: 'https://app.example.com/jwks',
        secret_hash: 'chosen-by-the-client',
      });
      expect(response.status).toBe(201);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).not.toHaveProperty('logo_uri');
      expect(body).not.toHaveProperty('software_id');
      const row = await clientRow(body.client_id as string);
      expect(row!.secret_hash).toBe(await sha256(body.client_secret as string));
    });
  });

  describe('refused metadata (nothing is stored)', () => {
    const badRedirects: [string, unknown][] = [
      ['http on a non-loopback host', ['http://app.example.com/callback']],
      ['http on a host that only starts like localhost', ['http://localhost.attacker.example/cb']],
      ['a fragment', ['https://app.example.com/callback#frag']],
      ['a relative URI', ['/callback']],
      ['a scheme-relative URI', ['//app.example.com/callback']],
      ['a javascript: URI', ['javascript:alert(1)']],
      ['a data: URI', ['data:text/html,hi']],
      ['userinfo', ['https://user:pass@app.example.com/callback']],
      ['a username only', ['https://attacker@app.example.com/callback']],
      ['whitespace', ['https://app.example.com/call back']],
      ['one bad URI among good ones', [REDIRECT_URI, 'http://attacker.example/cb']],
      ['no redirect URI for the code grant', []],
    ];
    for (const [kind, redirectUris] of badRedirects) {
      it(`refuses ${kind} with 400 invalid_redirect_uri`, async () => {
        const before = await clientCount(owner.id);
        await expectJsonError(await register(owner.token, { redirect_uris: redirectUris }), 400, 'invalid_redirect_uri');
        expect(await clientCount(owner.id)).toBe(before);
      });
    }

    it('refuses a missing redirect_uris for the code grant with 400 invalid_redirect_uri', async () => {
      await expectJsonError(await register(owner.token, { client_name: 'No URIs' }), 400, 'invalid_redirect_uri');
    });

    const badMetadata: [string, Record<string, unknown>][] = [
      ['an unknown grant type', { grant_types: ['password'] }],
      ['the implicit grant', { grant_types: ['implicit'] }],
      ['an unknown scope', { scope: 'openid admin' }],
      ['an empty scope', { scope: '   ' }],
      ['an unknown token_endpoint_auth_method', { token_endpoint_auth_method: 'private_key_jwt' }],
      ['client_credentials for a public client', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }],
      ['refresh_token without authorization_code', { grant_types: ['client_credentials', 'refresh_token'] }],
      ['response_types token', { response_types: ['token'] }],
      ['redirect_uris as a string', { redirect_uris: REDIRECT_URI }],
      ['a client_name of the wrong type', { client_name: 42 }],
      ['an empty client_name', { client_name: '  ' }],
      ['more than 10 redirect URIs', { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example.com/cb${i}`) }],
    ];
    for (const [kind, metadata] of badMetadata) {
      it(`refuses ${kind} with 400 invalid_client_metadata`, async () => {
        const before = await clientCount(owner.id);
        await expectJsonError(await register(owner.token, { redirect_uris: [REDIRECT_URI], ...metadata }), 400, 'invalid_client_metadata');
        expect(await clientCount(owner.id)).toBe(before);
      });
    }

    it('refuses a JSON body that is not an object with 400 invalid_client_metadata', async () => {
      await expectJsonError(await register(owner.token, [REDIRECT_URI]), 400, 'invalid_client_metadata');
      await expectJsonError(await register(owner.token, null), 400, 'invalid_client_metadata');
    });

    it('refuses malformed JSON with a 400 JSON error', async () => {
      const response = await call(REGISTER, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...bearer(owner.token) },
        body: '{"redirect_uris": ["https://app.example.com/callback"',
      });
      await expectJsonError(response, 400, 'invalid_request');
    });

    it('refuses another content type with 415', async () => {
      const response = await form(REGISTER, { redirect_uris: REDIRECT_URI }, bearer(owner.token));
      await expectJsonError(response, 415, 'invalid_request');
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const response = await register(owner.token, { redirect_uris: [REDIRECT_URI], client_name: 'x', padding: 'p'.repeat(70 * 1024) });
      await expectJsonError(response, 413, 'invalid_request');
    });
  });
});

describe('GET /api/clients', () => {
  it('needs a user API token: 401 without one', async () => {
    const response = await call('/api/clients');
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="tollgate"');
    await expectJsonError(response, 401, 'invalid_token');
  });

  it('refuses an access token issued to a client with 401', async () => {
    const client = await registerClient(owner.token);
    const tokens = await issueTokens(readerBrowser, client, { scope: 'books:read' });
    await expectJsonError(await call('/api/clients', { headers: bearer(tokens.access_token) }), 401, 'invalid_token');
  });

  it('lists only the caller’s clients, and never a secret or secret hash', async () => {
    const lister = await createUser();
    const token = await userToken(lister);
    const mine = [
      await registerClient(token, { client_name: 'Mine One' }),
      await registerClient(token, { client_name: 'Mine Two', token_endpoint_auth_method: 'client_secret_post' }),
      await registerClient(token, { client_name: 'Mine Public', token_endpoint_auth_method: 'none' }),
    ];
    const theirs = await registerClient(other.token, { client_name: 'Theirs' });

    const { response, text, clients } = await listClients(token);
    expect(response.status).toBe(200);
    expect(clients.map((client) => client.client_id).sort()).toEqual(mine.map((client) => client.client_id).sort());
    expect(text).not.toContain(theirs.client_id);
    for (const client of clients) {
      expect(client).toHaveProperty('client_name');
      expect(client).toHaveProperty('redirect_uris');
      for (const key of ['client_secret', 'secret_hash', 'secretHash', 'client_secret_expires_at']) expect(client).not.toHaveProperty(key);
    }
    for (const client of mine.filter((registered) => registered.client_secret)) {
      expect(text).not.toContain(client.client_secret!);
      expect(text).not.toContain(await sha256(client.client_secret!));
    }
  });

  it('lists nothing for a user with no clients', async () => {
    const { response, clients } = await listClients(await userToken(await createUser()));
    expect(response.status).toBe(200);
    expect(clients).toEqual([]);
  });
});

describe('DELETE /api/clients/:id', () => {
  it('needs a user API token: 401 without one, and nothing is deleted', async () => {
    const client = await registerClient(owner.token);
    await expectJsonError(await call(`/api/clients/${client.client_id}`, { method: 'DELETE' }), 401, 'invalid_token');
    expect(await clientRow(client.client_id)).not.toBeNull();
  });

  it('answers 404 for another user’s client and deletes nothing', async () => {
    const client = await registerClient(owner.token);
    const tokens = await issueTokens(readerBrowser, client, { scope: 'books:read' });
    const response = await call(`/api/clients/${client.client_id}`, { method: 'DELETE', headers: bearer(other.token) });
    await expectJsonError(response, 404, 'not_found');
    expect(await clientRow(client.client_id)).not.toBeNull();
    const { clients } = await listClients(owner.token);
    expect(clients.map((listed) => listed.client_id)).toContain(client.client_id);
    // What was issued to it still works.
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);
  });

  it('answers 404 for a client that does not exist', async () => {
    const response = await call('/api/clients/no-such-client', { method: 'DELETE', headers: bearer(owner.token) });
    await expectJsonError(response, 404, 'not_found');
  });

  it('deletes the caller’s own client with 204, and everything issued to it ends', async () => {
    const client = await registerClient(owner.token);
    const tokens = await issueTokens(readerBrowser, client, { scope: 'openid books:read' });
    const pending = await authorizeWithConsent(readerBrowser, client, { scope: 'books:read' });
    const auth = bearer(tokens.access_token);
    expect((await call('/api/books', { headers: auth })).status).toBe(200);

    const response = await call(`/api/clients/${client.client_id}`, { method: 'DELETE', headers: bearer(owner.token) });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await clientRow(client.client_id)).toBeNull();
    const { clients } = await listClients(owner.token);
    expect(clients.map((listed) => listed.client_id)).not.toContain(client.client_id);

    // Its grant went with it (foreign key cascade), so its access tokens stop working…
    const books = await call('/api/books', { headers: auth });
    expect(books.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
    await expectJsonError(books, 401, 'invalid_token');
    await expectJsonError(await call('/oauth2/userinfo', { headers: auth }), 401, 'invalid_token');
    const grants = await env.DB.prepare('select count(*) as n from grants where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(grants!.n).toBe(0);
    const codes = await env.DB.prepare('select count(*) as n from codes where client_id = ?').bind(client.client_id).first<{ n: number }>();
    expect(codes!.n).toBe(0);
    // …and it can no longer redeem a code or authenticate.
    await expectJsonError(await redeem(client, pending), 401, 'invalid_client');

    // Deleting it again finds nothing.
    const again = await call(`/api/clients/${client.client_id}`, { method: 'DELETE', headers: bearer(owner.token) });
    await expectJsonError(again, 404, 'not_found');
  });
});
