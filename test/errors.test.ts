import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { app } from '../src/app';
import { basic, call, createUser, ISSUER, issueTokens, registerClient, signedInBrowser, unique, userToken } from './helpers';

describe('an unexpected error', () => {
  afterEach(() => vi.restoreAllMocks());

  it('is a bare 500 on the wire, and the log holds no request data', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    // A D1 whose statements always fail: the sign-up's insert errors out inside Drizzle.
    const broken = {
      ...env,
      DB: {
        prepare: () => ({
          bind: () => ({
            run: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            all: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            raw: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            first: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
          }),
        }),
      } as unknown as D1Database,
    };
    const email = `${unique('private')}@example.com`;
    const response = await app.request(
      `${ISSUER}/api/users`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'long enough pw', name: 'Private Name' }),
      },
      broken,
    );
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: 'server_error', error_description: 'internal server error' });
    expect(body).not.toMatch(/D1_ERROR|insert|at /);
    expect(logged.join('\n')).toContain('disk I/O error');
    expect(logged.join('\n')).not.toContain(email);
    expect(logged.join('\n')).not.toContain('Private Name');
  });
});

describe('error descriptions say what is actually wrong', () => {
  it('a JSON array (or any non-object) body: the body must be a JSON object', async () => {
    const user = await createUser();
    const ownerToken = await userToken(user);
    const client = await registerClient(ownerToken);
    const { access_token: accessToken } = await issueTokens(await signedInBrowser(user), client, { scope: 'books:write' });
    for (const path of ['/api/users', '/api/login', '/oauth2/register', '/api/books']) {
      for (const body of ['[]', '["email"]', 'null', '42']) {
        const response = await call(path, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${path === '/api/books' ? accessToken : ownerToken}` },
          body,
        });
        const error = (await response.json()) as { error: string; error_description?: string };
        expect(response.status, `${path} ${body}`).toBe(400);
        expect(error.error_description, `${path} ${body}`).toBe('the body must be a JSON object');
      }
    }
  });

  it('a repeated grant_type: grant_type must not be repeated (RFC 6749 §3.2)', async () => {
    const client = await registerClient(await userToken(await createUser()), { grant_types: ['client_credentials'], scope: 'books:read' });
    const response = await call('/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
      body: 'grant_type=client_credentials&grant_type=client_credentials',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'grant_type must not be repeated (RFC 6749 §3.2)',
    });
  });

  it('another repeated token parameter says so too', async () => {
    const response = await call('/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=x',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'refresh_token must not be repeated (RFC 6749 §3.2)',
    });
  });
});
