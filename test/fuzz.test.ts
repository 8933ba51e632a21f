import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  call,
  createUser,
  hiddenFields,
  issueTokens,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

// Property-based attacks on every edge. Each property runs a bounded number
// of cases (RUNS) with a fixed seed, so CI is repeatable and quick; the seed
// is printed by fast-check on failure for replay.
const RUNS = 40;
const SEED = 20261128;
const settings = { numRuns: RUNS, seed: SEED, endOnFailure: true };

/** Strings an attacker would try: SQL and HTML metacharacters, unicode, NULs, traversal, redirects, huge. */
const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    '../../../etc/passwd',
    '\u0000',
    '%00',
    '\uFEFF\u202E',
    '𝕏'.repeat(30),
    '{"__proto__":{"admin":true}}',
    'javascript:alert(1)',
    '//evil.example',
    'https://evil.example/cb',
    ' ',
    '',
  ),
  fc.string({ minLength: 3000, maxLength: 9000 }),
);
const anyJson = fc.oneof(
  hostile,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostile, { maxLength: 3 }),
  fc.dictionary(hostile, hostile, { maxKeys: 3 }),
);

/** A form body: known and unknown parameter names, each possibly repeated (RFC 6749 §3.1 forbids that). */
function formPairs(names: string[]) {
  return fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), hostile), hostile), { maxLength: 8 });
}

async function counts(...tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) out[table] = (await env.DB.prepare(`select count(*) as n from ${table}`).first<{ n: number }>())!.n;
  return out;
}

/** The documented error shape: 4xx, JSON `{error, error_description?}`, never a stack trace. */
async function expectJsonErrorShape(response: Response): Promise<void> {
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  const body = (await response.json()) as Record<string, unknown>;
  expect(typeof body.error).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+|Error:|SQLITE/);
}

function formBody(pairs: [string, string][]): string {
  return pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&');
}

describe('fuzzing every edge (fast-check)', () => {
  let ownerToken: string;
  let client: RegisteredClient;
  let accessToken: string;

  beforeAll(async () => {
    const user = await createUser();
    ownerToken = await userToken(user);
    client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    accessToken = (await issueTokens(await signedInBrowser(user), client, { scope: 'openid books:read books:write' })).access_token;
  });

  it('POST /api/users: 201 or a 4xx error shape; a refusal stores nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ email: anyJson, password: anyJson, name: anyJson }, { requiredKeys: [] }), async (body) => {
        const before = await counts('users');
        const response = await call('/api/users', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (response.status === 201) return;
        await expectJsonErrorShape(response);
        expect(await counts('users')).toEqual(before);
      }),
      settings,
    );
  });

  it('JSON endpoints: raw garbage bodies are 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/api/users', '/api/login', '/oauth2/register', '/api/books'), hostile, async (path, raw) => {
        const response = await call(path, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${path === '/api/books' ? accessToken : ownerToken}` },
          body: raw,
        });
        await expectJsonErrorShape(response);
      }),
      settings,
    );
  });

  it('POST /api/login: never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ email: anyJson, password: anyJson }, { requiredKeys: [] }), async (body) => {
        const response = await call('/api/login', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (response.status !== 200) await expectJsonErrorShape(response);
      }),
      settings,
    );
  });

  it('POST /oauth2/token: always an OAuth error, and nothing issued or consumed', async () => {
    const names = ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'refresh_token', 'scope'];
    await fc.assert(
      fc.asyncProperty(formPairs(names), fc.option(hostile), async (pairs, authorization) => {
        const before = await counts('codes', 'refresh_tokens', 'grants', 'revoked_tokens');
        const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
        if (authorization !== null) headers.Authorization = `Basic ${btoa(unescape(encodeURIComponent(authorization)))}`;
        const response = await call('/oauth2/token', { method: 'POST', headers, body: formBody(pairs) });
        await expectJsonErrorShape(response);
        expect(await counts('codes', 'refresh_tokens', 'grants', 'revoked_tokens')).toEqual(before);
      }),
      settings,
    );
  });

  it('POST /oauth2/register: 201 or a registration error; a refusal stores nothing', async () => {
    const metadata = fc.record(
      {
        redirect_uris: fc.oneof(anyJson, fc.array(hostile, { maxLength: 3 })),
        client_name: anyJson,
        token_endpoint_auth_method: fc.oneof(anyJson, fc.constantFrom('none', 'client_secret_basic', 'private_key_jwt')),
        grant_types: fc.oneof(
          anyJson,
          fc.array(fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'password')),
        ),
        response_types: anyJson,
        scope: anyJson,
        post_logout_redirect_uris: anyJson,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(metadata, async (body) => {
        const before = await counts('clients', 'client_origins', 'grants');
        const response = await call('/oauth2/register', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ownerToken}` },
          body: JSON.stringify(body),
        });
        if (response.status === 201) return;
        expect(response.status).toBe(400);
        const clone = response.clone();
        await expectJsonErrorShape(response);
        expect(['invalid_request', 'invalid_client_metadata', 'invalid_redirect_uri']).toContain(
          ((await clone.json()) as { error: string }).error,
        );
        expect(await counts('clients', 'client_origins', 'grants')).toEqual(before);
      }),
      settings,
    );
  });

  it('GET /oauth2/authorize: an error page, the login page, or a redirect to the registered URI, never elsewhere', async () => {
    const names = [
      'response_type',
      'client_id',
      'redirect_uri',
      'scope',
      'state',
      'nonce',
      'code_challenge',
      'code_challenge_method',
      'prompt',
      'max_age',
      'request_id',
    ];
    await fc.assert(
      fc.asyncProperty(formPairs(names), fc.boolean(), async (pairs, useRealClient) => {
        const query = useRealClient ? [['client_id', client.client_id], ['redirect_uri', client.redirect_uris[0]!], ...pairs] : pairs;
        const response = await call(`/oauth2/authorize?${formBody(query as [string, string][])}`);
        expect(response.status).toBeLessThan(500);
        const location = response.headers.get('Location');
        if (location !== null) {
          const allowed = location.startsWith('/login?') || location.startsWith(`${client.redirect_uris[0]}?`);
          expect(allowed, location).toBe(true);
        }
      }),
      settings,
    );
  });

  it('POST /oauth2/revoke and /oauth2/introspect: never a 5xx, and nothing revoked by a stranger', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/oauth2/revoke', '/oauth2/introspect'),
        formPairs(['token', 'token_type_hint', 'client_id', 'client_secret']),
        async (path, pairs) => {
          const before = await counts('grants', 'revoked_tokens');
          const response = await call(path, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: formBody(pairs),
          });
          if (response.status !== 200) await expectJsonErrorShape(response);
          expect(await counts('grants', 'revoked_tokens')).toEqual(before);
        },
      ),
      settings,
    );
  });

  it('GET /api/books: any Authorization header is 401, 403 or the owner’s books', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, fc.constantFrom('Bearer ', 'bearer ', 'Basic ', ''), async (value, scheme) => {
        // Header values are bytes a client can send: printable ASCII.
        const headers = { Authorization: (scheme + value).replace(/[^\x20-\x7e]/g, '').trim() };
        const response = await call('/api/books', { headers });
        expect([401, 403]).toContain(response.status);
        await expectJsonErrorShape(response);
      }),
      settings,
    );
  });

  it('POST /api/books: 201 or 400; a refusal stores nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ title: anyJson, author: anyJson }, { requiredKeys: [] }), async (body) => {
        const before = await counts('books');
        const response = await call('/api/books', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${accessToken}` },
          body: JSON.stringify(body),
        });
        if (response.status === 201) return;
        await expectJsonErrorShape(response);
        expect(await counts('books')).toEqual(before);
      }),
      settings,
    );
  });

  it('POST /login and /signup forms: never a 5xx, no session from a refused form', async () => {
    const browser = new Browser();
    const fields = hiddenFields(await (await browser.get('/login')).text());
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/login', '/signup'), formPairs(['email', 'password', 'name', 'return_to']), async (path, pairs) => {
        const before = await counts('sessions', 'users');
        const response = await browser.fetch(path, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: formBody([['csrf_token', fields.csrf_token!], ...pairs]),
        });
        expect(response.status).toBeLessThan(500);
        if (response.status !== 303) expect(await counts('sessions', 'users')).toEqual(before);
        else expect(response.headers.get('Location')!.startsWith('/')).toBe(true);
        browser.cookies.delete('tg_session');
      }),
      settings,
    );
  });
});
