import { env } from 'cloudflare:test';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { app } from '../../src/app';
import { USER_API_AUDIENCE } from '../../src/config';
import { clearKeyCache, rotateSigningKeys } from '../../src/services/keys';
import { createDb } from '../../src/storage/db';
import { revokeUserApiTokensStatement } from '../../src/storage/user-api-tokens';
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
  issueTokens,
  json,
  type RegisteredClient,
  registerClient,
  storedHash,
  userToken,
} from '../helpers';
import { victim } from './support';

/**
 * Issue 11, finding 3: one read of the database must not forge tokens.
 * Each layer is attacked as the finding describes: the attacker holds a copy
 * of D1 (a backup, a leaked export), takes the signing key row and signs
 * tokens of their own with jose.
 */

const HTTPS_ISSUER = 'https://auth.example';
const KEK = 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhIQ';

/** What the attacker reads: the current signing key's row, straight from D1. */
async function leakedSigningKey(): Promise<{ kid: string; key: CryptoKey }> {
  const row = await env.DB.prepare("select kid, private_jwk from signing_keys where status = 'current'").first<{
    kid: string;
    private_jwk: string;
  }>();
  expect(row, 'a current signing key in D1').not.toBeNull();
  const jwk = JSON.parse(row!.private_jwk) as JWK;
  return { kid: row!.kid, key: (await importJWK(jwk, 'ES256')) as CryptoKey };
}

/** A JWT signed with the leaked key, shaped like Tollgate's own. */
async function forge(typ: string, payload: JWTPayload): Promise<string> {
  const { kid, key } = await leakedSigningKey();
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ, kid })
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(key);
}

/** A copy of a genuine access token's claims with some replaced, re-signed with the leaked key. */
async function forgeAccessToken(genuine: string, claims: Record<string, unknown>): Promise<string> {
  const { payload } = decodeJwt(genuine);
  const { iss: _iss, iat: _iat, exp: _exp, ...rest } = payload;
  return forge('at+jwt', { ...rest, jti: crypto.randomUUID(), ...claims });
}

/** The private keys D1 holds in a form that signs (plain JWK JSON with `d`). */
async function usablePrivateKeys(): Promise<string[]> {
  const rows = await env.DB.prepare('select kid, private_jwk from signing_keys').all<{ kid: string; private_jwk: string }>();
  return rows.results.filter((row) => row.private_jwk.includes('"d"')).map((row) => row.kid);
}

describe('layer 1: no signing key in clear in D1 off loopback', () => {
  beforeEach(async () => {
    clearKeyCache();
    await env.DB.prepare('delete from signing_keys').run();
  });
  afterEach(async () => {
    // Sealed keys would be unreadable to the later tests, which run without the KEK.
    await env.DB.prepare('delete from signing_keys').run();
    clearKeyCache();
    vi.restoreAllMocks();
  });

  it('an https issuer without KEY_ENCRYPTION_KEY or SIGNING_KEY makes no key: a clear server_error, nothing stored', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const httpsEnv = { ...env, ISSUER: HTTPS_ISSUER, KEY_ENCRYPTION_KEY: undefined, SIGNING_KEY: undefined };
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await app.request(`${HTTPS_ISSUER}/.well-known/jwks.json`, {}, httpsEnv);
      const body = await expectJsonError(response, 500, 'server_error');
      expect(body.error_description).toBe('signing keys need KEY_ENCRYPTION_KEY or SIGNING_KEY');
    }
    // Nothing an attacker could read and sign with.
    const rows = await env.DB.prepare('select count(*) as n from signing_keys').first<{ n: number }>();
    expect(rows?.n).toBe(0);
    // The operator is told once per isolate, not once per request.
    const said = errors.mock.calls.filter((call) => String(call[0]).includes('KEY_ENCRYPTION_KEY'));
    expect(said.length).toBeLessThanOrEqual(1);
  });

  it('an https issuer with KEY_ENCRYPTION_KEY seals every private key: the leaked rows sign nothing', async () => {
    const kekEnv = { ...env, ISSUER: HTTPS_ISSUER, KEY_ENCRYPTION_KEY: KEK };
    const response = await app.request(`${HTTPS_ISSUER}/.well-known/jwks.json`, {}, kekEnv);
    expect(response.status).toBe(200);
    expect(await usablePrivateKeys()).toEqual([]);
    await expect(leakedSigningKey()).rejects.toThrow();
  });

  it('a loopback issuer (npm start) still makes its keys without a KEK, and says so once', async () => {
    const warnings = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const response = await call('/.well-known/jwks.json');
    expect(response.status).toBe(200);
    expect(((await response.json()) as { keys: unknown[] }).keys).toHaveLength(2);
    const said = warnings.mock.calls.filter((call) => String(call[0]).includes('KEY_ENCRYPTION_KEY'));
    expect(said.length).toBeLessThanOrEqual(1);
  });

  it('keys an older version stored in clear stay readable off loopback (no bricked upgrade); the first rotation with the KEK seals them', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    await call('/.well-known/jwks.json'); // made in clear on loopback, as before the fix
    const clear = await usablePrivateKeys();
    expect(clear).toHaveLength(2);
    clearKeyCache();
    const httpsEnv = { ...env, ISSUER: HTTPS_ISSUER, KEY_ENCRYPTION_KEY: undefined };
    expect((await app.request(`${HTTPS_ISSUER}/.well-known/jwks.json`, {}, httpsEnv)).status).toBe(200);
    // The operator sets the KEK; the next rotation makes the new next key sealed.
    const result = await rotateSigningKeys({ db: createDb(env.DB), env: { ...httpsEnv, KEY_ENCRYPTION_KEY: KEK } });
    expect(result.rotated).toBe(true);
    expect(await usablePrivateKeys()).toEqual([]);
  });
});

describe('layer 2: a forged access token wider than its grant', () => {
  beforeEach(() => clearKeyCache());

  /** A user who approved only `scope` for a client, and the genuine access token for it. */
  async function grantOf(scope: string) {
    const v = await victim();
    const tokens = await issueTokens(v.browser, v.client, { scope });
    return { ...v, accessToken: tokens.access_token };
  }

  it('POST /api/books refuses books:write on a grant of books:read only (401 invalid_token)', async () => {
    const { accessToken } = await grantOf('books:read');
    const forged = await forgeAccessToken(accessToken, { scope: 'books:read books:write' });
    const response = await json('/api/books', { title: 'Forged', author: 'Mallory' }, { headers: bearer(forged) });
    await expectJsonError(response, 401, 'invalid_token');
    expect(response.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
  });

  it('GET /api/books refuses a token that claims more than its grant; the genuine token still reads', async () => {
    const { accessToken } = await grantOf('books:read');
    const forged = await forgeAccessToken(accessToken, { scope: 'books:read books:write' });
    await expectJsonError(await call('/api/books', { headers: bearer(forged) }), 401, 'invalid_token');
    expect((await call('/api/books', { headers: bearer(accessToken) })).status).toBe(200);
  });

  it('userinfo refuses openid and email the user never granted', async () => {
    const { accessToken } = await grantOf('books:read');
    const forged = await forgeAccessToken(accessToken, { scope: 'openid email' });
    await expectJsonError(await call('/oauth2/userinfo', { headers: bearer(forged) }), 401, 'invalid_token');
  });

  it('introspection answers active: false for a token wider than its grant', async () => {
    const { client, accessToken } = await grantOf('books:read');
    const forged = await forgeAccessToken(accessToken, { scope: 'books:read books:write' });
    expect(await introspectAs(client, forged)).toEqual({ active: false });
    expect(await introspectAs(client, accessToken)).toMatchObject({ active: true, scope: 'books:read' });
  });

  it("a token on the attacker's own grant naming another user is refused (the grant's user, not the token's sub, decides)", async () => {
    const victimUser = await grantOf('books:read books:write');
    expect((await json('/api/books', { title: 'Diary', author: 'Victim' }, { headers: bearer(victimUser.accessToken) })).status).toBe(201);
    const attacker = await grantOf('books:read');
    const forged = await forgeAccessToken(attacker.accessToken, { sub: victimUser.user.id });
    await expectJsonError(await call('/api/books', { headers: bearer(forged) }), 401, 'invalid_token');
    expect(await introspectAs(attacker.client, forged)).toEqual({ active: false });
  });

  it('client_credentials: a token beyond the client’s registered scope is inactive; its genuine token stands', async () => {
    const owner = await userToken(await createUser());
    const client: RegisteredClient = await registerClient(owner, { grant_types: ['client_credentials'], scope: 'books:read' });
    const issued = await form(
      '/oauth2/token',
      { grant_type: 'client_credentials', scope: 'books:read' },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    expect(issued.status).toBe(200);
    const { access_token: accessToken } = (await issued.json()) as { access_token: string };
    expect(await introspectAs(client, accessToken)).toMatchObject({ active: true, scope: 'books:read' });
    const forged = await forgeAccessToken(accessToken, { scope: 'books:read books:write' });
    expect(await introspectAs(client, forged)).toEqual({ active: false });
  });

  it('client_credentials without a registered scope: a token claiming a user scope (openid, email) is inactive', async () => {
    const owner = await userToken(await createUser());
    const client: RegisteredClient = await registerClient(owner, { grant_types: ['client_credentials'] });
    const issued = await form(
      '/oauth2/token',
      { grant_type: 'client_credentials', scope: 'books:read' },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    expect(issued.status).toBe(200);
    const { access_token: accessToken } = (await issued.json()) as { access_token: string };
    expect(await introspectAs(client, accessToken)).toMatchObject({ active: true });
    for (const scope of ['openid', 'books:read email', 'offline_access']) {
      expect(await introspectAs(client, await forgeAccessToken(accessToken, { scope }))).toEqual({ active: false });
    }
  });
});

describe('layer 3: a forged user API token', () => {
  beforeEach(() => clearKeyCache());

  /** A user API token as /api/login signs them, but made by the attacker for `userId`. */
  async function forgeUserToken(userId: string): Promise<string> {
    return forge('JWT', { sub: userId, aud: USER_API_AUDIENCE, jti: crypto.randomUUID() });
  }

  it('GET /api/clients refuses a user API token that /api/login never issued', async () => {
    const { user, client } = await victim();
    const forged = await forgeUserToken(user.id);
    const response = await call('/api/clients', { headers: bearer(forged) });
    const text = await response.clone().text();
    expect(text).not.toContain(client.client_id);
    await expectJsonError(response, 401, 'invalid_token');
  });

  it('POST /oauth2/register refuses it too: no client is registered in the victim’s name', async () => {
    const { user } = await victim();
    const forged = await forgeUserToken(user.id);
    const response = await json(
      '/oauth2/register',
      { client_name: 'Evil', redirect_uris: ['https://evil.example/cb'] },
      { headers: bearer(forged) },
    );
    await expectJsonError(response, 401, 'invalid_token');
    const owned = await env.DB.prepare('select count(*) as n from clients where owner_id = ?').bind(user.id).first<{ n: number }>();
    expect(owned?.n).toBe(1);
  });

  it('D1 holds only a hash of what makes a user API token stand, so a leak gives nothing to copy', async () => {
    const user = await createUser();
    const token = await userToken(user);
    const { jti } = decodeJwt(token).payload as { jti: string };
    expect(jti).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const dump = JSON.stringify((await env.DB.prepare('select * from user_api_tokens where user_id = ?').bind(user.id).all()).results);
    expect(dump).toContain(await storedHash(jti));
    expect(dump).not.toContain(jti);
  });

  it('POST /api/logout revokes the presented token at once; another token of the user stands', async () => {
    const user = await createUser();
    const [first, second] = [await userToken(user), await userToken(user)];
    expect((await call('/api/clients', { headers: bearer(first) })).status).toBe(200);
    const out = await call('/api/logout', { method: 'POST', headers: bearer(first) });
    expect(out.status).toBe(204);
    await expectJsonError(await call('/api/clients', { headers: bearer(first) }), 401, 'invalid_token');
    await expectJsonError(await call('/api/logout', { method: 'POST', headers: bearer(first) }), 401, 'invalid_token');
    expect((await call('/api/clients', { headers: bearer(second) })).status).toBe(200);
  });

  it('revoking all of a user’s tokens (sign out everywhere, password change) ends each of them, and no other user’s', async () => {
    const [user, other] = [await createUser(), await createUser()];
    const tokens = [await userToken(user), await userToken(user)];
    const othersToken = await userToken(other);
    await revokeUserApiTokensStatement(createDb(env.DB), user.id);
    for (const token of tokens) await expectJsonError(await call('/api/clients', { headers: bearer(token) }), 401, 'invalid_token');
    expect((await call('/api/clients', { headers: bearer(othersToken) })).status).toBe(200);
  });
});
