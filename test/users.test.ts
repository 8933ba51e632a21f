import { env } from 'cloudflare:test';
import { type JWTPayload, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { getKeySet } from '../src/services/keys';
import { createDb } from '../src/storage/db';
import { call, createUser, decodeJwt, ISSUER, json, unique } from './helpers';

describe('POST /api/users', () => {
  it('creates an account: 201 with id, email and name, and a salted PBKDF2 hash at rest', async () => {
    const email = `${unique('new')}@Example.COM`;
    const response = await json('/api/users', { email: `  ${email} `, password: 'long enough pw', name: 'New Reader' });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toEqual({ id: expect.any(String), email: email.toLowerCase(), name: 'New Reader' });
    const row = await env.DB.prepare('select password_hash from users where id = ?').bind(body.id).first<{ password_hash: string }>();
    expect(row?.password_hash).toMatch(/^pbkdf2-sha256-nfkc\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(row?.password_hash).not.toContain('long enough pw');
  });

  it('answers 409 when the email is taken, in any case, and keeps the first account', async () => {
    const user = await createUser();
    const again = await json('/api/users', { email: user.email.toUpperCase(), password: 'another password', name: 'Impostor' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'conflict' });
    const rows = await env.DB.prepare('select name from users where email = ?').bind(user.email).all<{ name: string }>();
    expect(rows.results).toEqual([{ name: user.name }]);
  });

  it.each([
    ['a missing field', { email: 'x@example.com', password: 'long enough pw' }, 'name'],
    ['a bad email', { email: 'not-an-email', password: 'long enough pw', name: 'X' }, 'email'],
    ['a short password', { email: 'short@example.com', password: 'short', name: 'X' }, 'password'],
    ['a wrong type', { email: 'type@example.com', password: 12345678, name: 'X' }, 'password'],
    ['a non-object', ['email'], ''],
  ])('refuses %s with 400 invalid_request saying what is wrong', async (_, body, field) => {
    const response = await json('/api/users', body);
    expect(response.status).toBe(400);
    const error = (await response.json()) as { error: string; error_description: string };
    expect(error.error).toBe('invalid_request');
    expect(error.error_description).toContain(field);
  });

  it('refuses malformed JSON with 400, a wrong content type with 415 and a huge body with 413', async () => {
    const malformed = await call('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"email":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request' });

    const wrongType = await call('/api/users', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ error: 'invalid_request' });

    const huge = await json('/api/users', { email: 'huge@example.com', password: 'x'.repeat(70_000), name: 'Huge' });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: 'invalid_request' });
    const stored = await env.DB.prepare("select count(*) as n from users where email = 'huge@example.com'").first<{ n: number }>();
    expect(stored?.n).toBe(0);
  });
});

describe('POST /api/login', () => {
  it('returns a short-lived user API token for the right password', async () => {
    const user = await createUser();
    const response = await json('/api/login', { email: user.email, password: user.password });
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const { header, payload } = decodeJwt(body.access_token as string);
    // RFC 8725 §3.11: typed apart from every other JWT Tollgate signs.
    expect(header).toMatchObject({ alg: 'ES256', typ: 'tollgate-user-api+jwt' });
    expect(payload).toMatchObject({ sub: user.id, aud: 'urn:tollgate:user-api' });
  });

  it('accepts only its own typ: the same claims, signed by the same key, typed JWT (as ID tokens are) are refused', async () => {
    const user = await createUser();
    const login = (await (await json('/api/login', { email: user.email, password: user.password })).json()) as { access_token: string };
    const { payload } = decodeJwt(login.access_token);
    const deps = { db: createDb(env.DB), env, issuer: ISSUER };
    const { signing } = await getKeySet(deps);
    // Everything as the real token has it (its jti's row stands), but the typ.
    const retyped = await new SignJWT(payload as JWTPayload)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: signing.kid })
      .sign(signing.key);
    const asUser = (token: string) => call('/api/clients', { headers: { Authorization: `Bearer ${token}` } });
    expect((await asUser(login.access_token)).status).toBe(200);
    expect((await asUser(retyped)).status).toBe(401);
  });

  it('answers an unknown email exactly like a wrong password', async () => {
    const user = await createUser();
    const wrong = await json('/api/login', { email: user.email, password: 'wrong password' });
    const unknown = await json('/api/login', { email: `${unique('nobody')}@example.com`, password: 'wrong password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(await wrong.json()).toEqual(await unknown.json());
  });

  it('refuses a malformed body with 400', async () => {
    const response = await json('/api/login', { email: 'x@example.com' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });
});
