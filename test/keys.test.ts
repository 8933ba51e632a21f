import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { KEY_ROTATION_CRON, PRUNE_CRON, RETIRED_KEY_GRACE } from '../src/config';
import worker from '../src/index';
import { clearKeyCache, getKeySet, isLoopbackIssuer, rotateSigningKeys, UNSEALED_KEY_REFUSED } from '../src/services/keys';
import { signAccessToken, verifyAccessToken } from '../src/services/tokens';
import { createDb } from '../src/storage/db';
import wranglerToml from '../wrangler.toml?raw';
import { call, ISSUER } from './helpers';

describe('signing keys', () => {
  beforeEach(async () => {
    clearKeyCache();
    await env.DB.prepare('delete from signing_keys').run();
  });

  it('creates exactly one current key when many first requests race', async () => {
    const db = createDb(env.DB);
    const sets = await Promise.all(
      Array.from({ length: 8 }, async () => {
        clearKeyCache();
        return getKeySet({ db: db, env: env });
      }),
    );
    const rows = await env.DB.prepare("select kid from signing_keys where status = 'current'").all<{ kid: string }>();
    expect(rows.results).toHaveLength(1);
    const next = await env.DB.prepare("select kid from signing_keys where status = 'next'").all<{ kid: string }>();
    expect(next.results).toHaveLength(1);
    for (const set of sets) expect(set.signing.kid).toBe(rows.results[0]!.kid);
  });

  it('publishes the key with kid, alg and use, and no private part', async () => {
    const response = await call('/.well-known/jwks.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toMatch(/max-age=\d+/);
    const { keys } = (await response.json()) as { keys: Record<string, string>[] };
    // The current key and the next one, published before it is used.
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(key).not.toHaveProperty('d');
    }
  });

  it('signs with the SIGNING_KEY secret when it is set', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'operator-key-1' };
    const secretEnv = { ...env, SIGNING_KEY: JSON.stringify(jwk) };
    const ctx = { db: createDb(env.DB), env: secretEnv, issuer: ISSUER };
    const token = await signAccessToken(ctx, { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    const { x, y, kty, crv } = jwk;
    const { protectedHeader } = await jwtVerify(token, (await importJWK({ kty, crv, x, y }, 'ES256')) as CryptoKey);
    expect(protectedHeader.kid).toBe('operator-key-1');
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1', clientId: 'c1', grantId: 'g1' });
    // Nothing was generated in D1: the secret is the key.
    const rows = await env.DB.prepare('select count(*) as n from signing_keys').first<{ n: number }>();
    expect(rows?.n).toBe(0);
    clearKeyCache();
  });

  it('refuses a SIGNING_KEY that is not a private P-256 JWK', async () => {
    const ctx = { db: createDb(env.DB), env: { ...env, SIGNING_KEY: '{"kty":"RSA"}' }, issuer: ISSUER };
    await expect(getKeySet({ db: ctx.db, env: ctx.env })).rejects.toThrow(/P-256/);
    clearKeyCache();
  });
});

async function publishedKids(): Promise<string[]> {
  const { keys } = (await (await call('/.well-known/jwks.json')).json()) as { keys: { kid: string }[] };
  return keys.map((key) => key.kid);
}

describe('signing key rotation', () => {
  beforeEach(async () => {
    clearKeyCache();
    await env.DB.prepare('delete from signing_keys').run();
  });

  it('promotes the published next key, retires the current one, and publishes a new next', async () => {
    const db = createDb(env.DB);
    const before = await getKeySet({ db: db, env: env });
    const nextBefore = (await env.DB.prepare("select kid from signing_keys where status = 'next'").first<{ kid: string }>())!.kid;
    const result = await rotateSigningKeys({ db: db, env: env });
    expect(result).toMatchObject({ rotated: true, current: nextBefore });
    expect(result.next).not.toBe(nextBefore);
    const after = await getKeySet({ db: db, env: env });
    expect(after.signing.kid).toBe(nextBefore);
    const statuses = await env.DB.prepare('select kid, status from signing_keys').all<{ kid: string; status: string }>();
    expect(statuses.results).toContainEqual({ kid: before.signing.kid, status: 'retired' });
    expect(await publishedKids()).toEqual(expect.arrayContaining([before.signing.kid, nextBefore, result.next!]));
  });

  it('keeps a token signed before the rotation verifiable after it', async () => {
    const ctx = { db: createDb(env.DB), env, issuer: ISSUER };
    const token = await signAccessToken(ctx, { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    const jwksBefore = await (await call('/.well-known/jwks.json')).json();
    await rotateSigningKeys({ db: ctx.db, env: env });
    clearKeyCache();
    // A relying party that fetches the JWKS after the rotation still finds the old key.
    const jwksAfter = createLocalJWKSet(await (await call('/.well-known/jwks.json')).json());
    await expect(jwtVerify(token, jwksAfter, { issuer: ISSUER })).resolves.toBeTruthy();
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
    // And one that cached the JWKS before it already knew the key that now signs.
    const newToken = await signAccessToken(ctx, { sub: 'u2', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    await expect(jwtVerify(newToken, createLocalJWKSet(jwksBefore as never), { issuer: ISSUER })).resolves.toBeTruthy();
  });

  it('drops a retired key from the JWKS after its grace period', async () => {
    const db = createDb(env.DB);
    const first = (await getKeySet({ db: db, env: env })).signing.kid;
    await rotateSigningKeys({ db: db, env: env });
    clearKeyCache();
    expect(await publishedKids()).toContain(first);
    // Age the retirement past the grace period.
    await env.DB.prepare('update signing_keys set retired_at = retired_at - ? where kid = ?')
      .bind(RETIRED_KEY_GRACE + 1, first)
      .run();
    clearKeyCache();
    expect(await publishedKids()).not.toContain(first);
    // The next rotation deletes it for good.
    await rotateSigningKeys({ db: db, env: env });
    const gone = await env.DB.prepare('select count(*) as n from signing_keys where kid = ?').bind(first).first<{ n: number }>();
    expect(gone?.n).toBe(0);
  });

  it('rotates from the Cron Trigger through the scheduled handler', async () => {
    const db = createDb(env.DB);
    const first = (await getKeySet({ db: db, env: env })).signing.kid;
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: KEY_ROTATION_CRON, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();
    expect((await getKeySet({ db: db, env: env })).signing.kid).not.toBe(first);
  });

  it('leaves the keys alone on the daily prune run: only the monthly run rotates', async () => {
    const db = createDb(env.DB);
    const first = (await getKeySet({ db: db, env: env })).signing.kid;
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: PRUNE_CRON, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();
    expect((await getKeySet({ db: db, env: env })).signing.kid).toBe(first);
  });

  it('is scheduled by wrangler.toml: both Cron Triggers the handler tells apart', () => {
    const crons = /^crons\s*=\s*(\[.*\])$/m.exec(wranglerToml)?.[1];
    expect(JSON.parse(crons ?? '[]')).toEqual([PRUNE_CRON, KEY_ROTATION_CRON]);
  });

  it('leaves an operator key from SIGNING_KEY alone', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const secretEnv = { ...env, SIGNING_KEY: JSON.stringify(await exportJWK(privateKey)) };
    expect(await rotateSigningKeys({ db: createDb(env.DB), env: secretEnv })).toEqual({ rotated: false });
    clearKeyCache();
  });
});

describe('private signing keys at rest', () => {
  beforeEach(async () => {
    clearKeyCache();
    await env.DB.prepare('delete from signing_keys').run();
  });

  it('seals private keys with AES-GCM when KEY_ENCRYPTION_KEY is set, and signs with them', async () => {
    const kekEnv = { ...env, KEY_ENCRYPTION_KEY: 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhIQ' };
    const ctx = { db: createDb(env.DB), env: kekEnv, issuer: ISSUER };
    const token = await signAccessToken(ctx, { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    const rows = await env.DB.prepare('select kid, private_jwk from signing_keys').all<{ kid: string; private_jwk: string }>();
    expect(rows.results.length).toBeGreaterThanOrEqual(2);
    for (const row of rows.results) {
      expect(row.private_jwk).toMatch(/^aes256gcm:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
      expect(row.private_jwk).not.toContain('"d"');
    }
    clearKeyCache();
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
    // Without the secret the sealed key cannot be used, and says why.
    clearKeyCache();
    await expect(getKeySet({ db: createDb(env.DB), env: env })).rejects.toThrow(/KEY_ENCRYPTION_KEY/);
    clearKeyCache();
  });

  it('stores the private key as plain JWK JSON when no KEK is set (readable later, sealed from the next rotation)', async () => {
    await getKeySet({ db: createDb(env.DB), env: env });
    const row = await env.DB.prepare("select private_jwk from signing_keys where status = 'current'").first<{ private_jwk: string }>();
    expect(JSON.parse(row!.private_jwk)).toHaveProperty('d');
    clearKeyCache();
  });
});

describe('no signing key made in clear off loopback', () => {
  const httpsEnv = { ...env, ISSUER: 'https://auth.example.com', KEY_ENCRYPTION_KEY: undefined, SIGNING_KEY: undefined };

  beforeEach(async () => {
    clearKeyCache();
    await env.DB.prepare('delete from signing_keys').run();
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    return async () => {
      vi.restoreAllMocks();
      // Sealed keys would be unreadable to the next file's requests, which run without the KEK.
      await env.DB.prepare('delete from signing_keys').run();
      clearKeyCache();
    };
  });

  it.each([
    ['http://localhost:8787', true],
    ['http://127.0.0.1:8787', true],
    ['http://127.4.5.6', true],
    ['http://[::1]:8787', true],
    ['https://auth.example.com', false],
    ['http://localhost.example.com', false],
    ['http://128.0.0.1', false],
    ['http://[::2]', false],
    ['not a url', false],
  ])('%s is loopback: %s', (issuer, loopback) => {
    expect(isLoopbackIssuer(issuer)).toBe(loopback);
  });

  it('refuses to make keys for a non-loopback issuer without KEY_ENCRYPTION_KEY, with a server_error saying what to set', async () => {
    await expect(getKeySet({ db: createDb(env.DB), env: httpsEnv })).rejects.toMatchObject({
      code: 'server_error',
      status: 500,
      message: UNSEALED_KEY_REFUSED,
    });
    const rows = await env.DB.prepare('select count(*) as n from signing_keys').first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it('makes them on a loopback issuer without a KEK (npm start)', async () => {
    const set = await getKeySet({ db: createDb(env.DB), env: { ...env, KEY_ENCRYPTION_KEY: undefined } });
    expect(set.jwks).toHaveLength(2);
  });

  it('makes them sealed on a non-loopback issuer with a KEK', async () => {
    await getKeySet({ db: createDb(env.DB), env: { ...httpsEnv, KEY_ENCRYPTION_KEY: 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhIQ' } });
    const rows = await env.DB.prepare('select private_jwk from signing_keys').all<{ private_jwk: string }>();
    expect(rows.results).toHaveLength(2);
    for (const row of rows.results) expect(row.private_jwk).toMatch(/^aes256gcm:/);
  });

  it('does not rotate keys stored in clear off loopback without a KEK (no new clear key), and seals them all with one', async () => {
    await getKeySet({ db: createDb(env.DB), env: env }); // in clear, as an older version made them
    clearKeyCache();
    await expect(rotateSigningKeys({ db: createDb(env.DB), env: httpsEnv })).rejects.toMatchObject({ code: 'server_error' });
    const kek = 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhIQ';
    clearKeyCache();
    const result = await rotateSigningKeys({ db: createDb(env.DB), env: { ...httpsEnv, KEY_ENCRYPTION_KEY: kek } });
    expect(result.rotated).toBe(true);
    const rows = await env.DB.prepare('select status, private_jwk from signing_keys').all<{ status: string; private_jwk: string }>();
    expect(rows.results.map((row) => row.status).sort()).toEqual(['current', 'next', 'retired']);
    for (const row of rows.results) expect(row.private_jwk).toMatch(/^aes256gcm:/);
    // Still signs and verifies, with the promoted key it has sealed.
    const ctx = { db: createDb(env.DB), env: { ...httpsEnv, KEY_ENCRYPTION_KEY: kek }, issuer: httpsEnv.ISSUER };
    clearKeyCache();
    const token = await signAccessToken(ctx, { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
  });
});
