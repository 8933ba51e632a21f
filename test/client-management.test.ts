import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  bearer,
  call,
  createUser,
  expectErrorPage,
  expectJsonError,
  formAction,
  hiddenFields,
  ISSUER,
  issueTokens,
  json,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  storedHash,
  userToken,
} from './helpers';

// RFC 7592: each registered client reads, replaces and deletes its own
// registration at registration_client_uri with its registration access token.

const OTHER_URI = 'https://app.example.com/other';

interface Managed extends RegisteredClient {
  registration_client_uri: string;
  registration_access_token: string;
}

/** A request to the client's configuration endpoint with its registration access token. */
function manage(client: Managed, init: RequestInit = {}, token = client.registration_access_token): Promise<Response> {
  return call(client.registration_client_uri, { ...init, headers: { ...bearer(token), ...(init.headers as Record<string, string>) } });
}

function put(client: Managed, body: unknown, token?: string): Promise<Response> {
  return manage(client, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }, token);
}

async function clientRow(id: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare('select * from clients where id = ?').bind(id).first();
}

let ownerToken: string;
let reader: Browser;

beforeAll(async () => {
  const [owner, readerUser] = await Promise.all([createUser(), createUser({ name: 'Reader' })]);
  ownerToken = await userToken(owner);
  reader = await signedInBrowser(readerUser);
});

async function registered(metadata: Record<string, unknown> = {}): Promise<Managed> {
  return (await registerClient(ownerToken, metadata)) as Managed;
}

describe('the registration response (RFC 7592 §3)', () => {
  it('carries registration_client_uri and a registration access token, stored only as its SHA-256', async () => {
    const client = await registered();
    expect(client.registration_client_uri).toBe(`${ISSUER}/oauth2/register/${client.client_id}`);
    expect(client.registration_access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await clientRow(client.client_id);
    expect(row!.registration_token_hash).toBe(await storedHash(client.registration_access_token));
    expect(JSON.stringify(row)).not.toContain(client.registration_access_token);
  });

  it('an anonymous (open) registration gets them too', async () => {
    const response = await json('/oauth2/register', { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Managed;
    expect(body.registration_client_uri).toBe(`${ISSUER}/oauth2/register/${body.client_id}`);
    const read = await manage(body);
    expect(read.status).toBe(200);
  });
});

describe('GET /oauth2/register/:client_id', () => {
  it('reads the metadata, with the token presented and no secret (only its hash is kept)', async () => {
    const client = await registered({ client_name: 'Reader App', scope: 'openid books:read' });
    const response = await manage(client);
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      client_id: client.client_id,
      client_name: 'Reader App',
      redirect_uris: [REDIRECT_URI],
      scope: 'openid books:read',
      token_endpoint_auth_method: 'client_secret_basic',
      require_pushed_authorization_requests: false,
      registration_client_uri: client.registration_client_uri,
      registration_access_token: client.registration_access_token,
    });
    expect(body).not.toHaveProperty('client_secret');
    expect(JSON.stringify(body)).not.toContain(client.client_secret!);
  });

  it('without a token is 401 with a Bearer challenge', async () => {
    const client = await registered();
    const response = await call(client.registration_client_uri);
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="tollgate"/);
    await expectJsonError(response, 401, 'invalid_token');
  });
});

describe('PUT /oauth2/register/:client_id', () => {
  it('replaces the metadata: omitted fields take their defaults, the secret and token stay', async () => {
    const client = await registered({ client_name: 'Old', scope: 'openid', grant_types: ['authorization_code', 'refresh_token'] });
    const response = await put(client, {
      client_id: client.client_id,
      client_name: 'New',
      redirect_uris: [OTHER_URI],
      require_pushed_authorization_requests: true,
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body).toMatchObject({
      client_id: client.client_id,
      client_name: 'New',
      redirect_uris: [OTHER_URI],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pushed_authorization_requests: true,
      registration_access_token: client.registration_access_token,
    });
    expect(body).not.toHaveProperty('scope');
    expect(body).not.toHaveProperty('client_secret');
    const row = await clientRow(client.client_id);
    expect(row).toMatchObject({ name: 'New', scope: null, require_pushed_authorization_requests: 1 });
    // The same secret still authenticates, at the endpoint that takes it.
    const introspect = await call('/oauth2/introspect', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
      },
      body: 'token=x',
    });
    expect(introspect.status).toBe(200);
  });

  it('is audited client_updated for the owner once it took effect, and a refused update is not', async () => {
    const client = await registered({ client_name: 'Audited' });
    const events = async () =>
      (
        await env.DB.prepare("select user_id from audit_events where type = 'client_updated' and client_id = ?")
          .bind(client.client_id)
          .all<{ user_id: string | null }>()
      ).results;
    await expectJsonError(await put(client, { client_id: 'someone-else', redirect_uris: [OTHER_URI] }), 400, 'invalid_request');
    expect(await events()).toEqual([]);
    expect((await put(client, { client_id: client.client_id, redirect_uris: [OTHER_URI] })).status).toBe(200);
    const owner = await env.DB.prepare('select owner_id from clients where id = ?').bind(client.client_id).first<{ owner_id: string }>();
    expect(await events()).toEqual([{ user_id: owner?.owner_id }]);
  });

  it('accepts the current client_secret in the body, and refuses another (RFC 7592 §2.2)', async () => {
    const client = await registered();
    const base = { client_id: client.client_id, client_name: 'Reading List', redirect_uris: [REDIRECT_URI] };
    expect((await put(client, { ...base, client_secret: client.client_secret })).status).toBe(200);
    const wrong = await put(client, { ...base, client_name: 'Changed', client_secret: 'my own choice' });
    await expectJsonError(wrong, 400, 'invalid_request');
    expect((await clientRow(client.client_id))!.name).toBe('Reading List');
  });

  it.each([
    ['no client_id', {}],
    ['another client_id', { client_id: 'someone-else' }],
    ['registration_access_token', { registration_access_token: 'x' }],
    ['registration_client_uri', { registration_client_uri: 'https://x.example' }],
    ['client_secret_expires_at', { client_secret_expires_at: 0 }],
    ['client_id_issued_at', { client_id_issued_at: 1 }],
  ])('with %s is 400 invalid_request, and nothing changes', async (_, fields) => {
    const client = await registered();
    const body: Record<string, unknown> = { client_id: client.client_id, client_name: 'Changed', redirect_uris: [REDIRECT_URI], ...fields };
    if (!('client_id' in fields) && Object.keys(fields).length === 0) delete body.client_id;
    await expectJsonError(await put(client, body), 400, 'invalid_request');
    expect((await clientRow(client.client_id))!.name).toBe('Reading List');
  });

  it.each([
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['no redirect URI for the code grant', { redirect_uris: [] }, 'invalid_redirect_uri'],
    ['an unknown scope', { scope: 'admin' }, 'invalid_client_metadata'],
    ['an unknown grant type', { grant_types: ['password'] }, 'invalid_client_metadata'],
    ['a non-boolean require_pushed_authorization_requests', { require_pushed_authorization_requests: 'yes' }, 'invalid_client_metadata'],
  ])('refuses %s as registration does, and nothing changes', async (_, fields, error) => {
    const client = await registered();
    await expectJsonError(await put(client, { client_id: client.client_id, redirect_uris: [REDIRECT_URI], ...fields }), 400, error);
    expect(await clientRow(client.client_id)).toMatchObject({ name: 'Reading List', redirect_uris: JSON.stringify([REDIRECT_URI]) });
  });

  it('refuses malformed JSON and another content type, and changes nothing', async () => {
    const client = await registered();
    const malformed = await manage(client, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"client_id":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/invalid_/);
    const text = await manage(client, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
    expect(text.status).toBe(415);
    expect((await clientRow(client.client_id))!.name).toBe('Reading List');
  });

  it('a public client an owner turns confidential gets a new secret, once, that then authenticates', async () => {
    const client = await registered({ token_endpoint_auth_method: 'none' });
    const response = await put(client, { client_id: client.client_id, redirect_uris: [REDIRECT_URI] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.client_secret_expires_at).toBe(0);
    expect((await clientRow(client.client_id))!.secret_hash).toBe(await storedHash(body.client_secret as string));
    // Back to public: the secret is dropped.
    const back = await put(client, { client_id: client.client_id, redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    expect(back.status).toBe(200);
    expect((await clientRow(client.client_id))!.secret_hash).toBeNull();
  });

  it('a client nobody owns stays public: asking for a confidential one is invalid_client_metadata', async () => {
    const response = await json('/oauth2/register', { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    const client = (await response.json()) as Managed;
    const update = await put(client, {
      client_id: client.client_id,
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    await expectJsonError(update, 400, 'invalid_client_metadata');
    expect(await clientRow(client.client_id)).toMatchObject({ token_endpoint_auth_method: 'none', secret_hash: null });
  });

  it('removing a redirect URI invalidates the pending codes for it, and only those', async () => {
    const client = await registered({ redirect_uris: [REDIRECT_URI, OTHER_URI] });
    const dropped = await authorizeWithConsent(reader, client, { scope: 'books:read', redirectUri: REDIRECT_URI });
    const kept = await authorizeWithConsent(reader, client, { scope: 'books:read', redirectUri: OTHER_URI });
    expect((await put(client, { client_id: client.client_id, redirect_uris: [OTHER_URI] })).status).toBe(200);
    await expectJsonError(await redeem(client, dropped), 400, 'invalid_grant');
    expect((await redeem(client, kept)).status).toBe(200);
  });

  it('a consent page open for a removed redirect URI can no longer answer to it', async () => {
    const client = await registered({ redirect_uris: [REDIRECT_URI, OTHER_URI] });
    const { challenge } = await pkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'books:read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    const consent = await reader.get(`/oauth2/authorize?${query}`);
    expect(consent.status).toBe(200);
    const html = await consent.text();
    expect((await put(client, { client_id: client.client_id, redirect_uris: [OTHER_URI] })).status).toBe(200);
    const answer = await reader.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    await expectErrorPage(answer);
  });

  it('unused pushed requests of the client are dropped: they were checked against the old metadata', async () => {
    const client = await registered();
    const { challenge } = await pkce();
    const pushedResponse = await call('/oauth2/par', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
      },
      body: new URLSearchParams({
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'books:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString(),
    });
    expect(pushedResponse.status).toBe(201);
    const { request_uri } = (await pushedResponse.json()) as { request_uri: string };
    expect((await put(client, { client_id: client.client_id, redirect_uris: [REDIRECT_URI, OTHER_URI] })).status).toBe(200);
    await expectErrorPage(
      await reader.get(`/oauth2/authorize?client_id=${client.client_id}&request_uri=${encodeURIComponent(request_uri)}`),
    );
  });

  it('dropping client_credentials deletes the grant its own tokens stand on', async () => {
    const client = await registered({ grant_types: ['client_credentials'], redirect_uris: [] });
    const token = await call('/oauth2/token', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
      },
      body: 'grant_type=client_credentials&scope=books:read',
    });
    expect(token.status, await token.clone().text()).toBe(200);
    const grants = async () =>
      (await env.DB.prepare('select count(*) as n from grants where client_id = ?').bind(client.client_id).first<{ n: number }>())!.n;
    expect(await grants()).toBe(1);
    const update = await put(client, { client_id: client.client_id, redirect_uris: [REDIRECT_URI] });
    expect(update.status).toBe(200);
    expect(await grants()).toBe(0);
  });
});

describe('DELETE /oauth2/register/:client_id', () => {
  it('204: the client and everything issued to it are gone, and so is its registration access token', async () => {
    const client = await registered({ grant_types: ['authorization_code', 'refresh_token'] });
    const tokens = await issueTokens(reader, client, { scope: 'openid offline_access books:read' });
    const pending = await authorizeWithConsent(reader, client, { scope: 'books:read' });
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);

    const response = await manage(client, { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await clientRow(client.client_id)).toBeNull();
    await expectJsonError(await call('/api/books', { headers: bearer(tokens.access_token) }), 401, 'invalid_token');
    const refresh = await call('/oauth2/token', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
      },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(tokens.refresh_token as string)}`,
    });
    await expectJsonError(refresh, 401, 'invalid_client');
    await expectJsonError(await redeem(client, pending), 401, 'invalid_client');
    for (const table of ['grants', 'codes', 'refresh_tokens', 'client_origins']) {
      const row = await env.DB.prepare(`select count(*) as n from ${table} where client_id = ?`)
        .bind(client.client_id)
        .first<{ n: number }>();
      expect(row!.n, table).toBe(0);
    }
    const audit = await env.DB.prepare("select count(*) as n from audit_events where type = 'client_deleted' and client_id = ?")
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(audit!.n).toBe(1);
    await expectJsonError(await manage(client), 401, 'invalid_token');
    await expectJsonError(await manage(client, { method: 'DELETE' }), 401, 'invalid_token');
  });
});

describe('hostile input', () => {
  it('any JSON body to PUT is 200 or a JSON 4xx, never a 5xx; a refused one changes nothing', async () => {
    const client = await registered();
    const hostile = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('javascript:alert(1)', 'https://evil.example/cb', "'; DROP TABLE clients; --", 'none', ''),
    );
    const anyValue = fc.oneof(hostile, fc.integer(), fc.boolean(), fc.constant(null), fc.array(hostile, { maxLength: 3 }));
    const names = [
      'client_id',
      'client_secret',
      'client_name',
      'redirect_uris',
      'grant_types',
      'scope',
      'token_endpoint_auth_method',
      'response_types',
      'require_pushed_authorization_requests',
      'registration_access_token',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.oneof(fc.constantFrom(...names), hostile), anyValue, { maxKeys: 6 }),
        fc.boolean(),
        async (fields, withId) => {
          // Often the client's own id and a valid redirect URI, so some updates are accepted and the rest is hostile.
          const body: Record<string, unknown> = withId ? { client_id: client.client_id, redirect_uris: [REDIRECT_URI], ...fields } : fields;
          const before = await clientRow(client.client_id);
          const response = await put(client, body);
          const text = await response.text();
          expect(response.status, text).toBeLessThan(500);
          if (response.status !== 200) {
            expect(response.status, text).toBeGreaterThanOrEqual(400);
            expect(JSON.parse(text)).toHaveProperty('error');
            expect(await clientRow(client.client_id)).toEqual(before);
          }
        },
      ),
      { numRuns: 40, seed: 20261201, endOnFailure: true },
    );
  });
});
