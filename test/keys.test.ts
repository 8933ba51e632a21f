import { env } from 'cloudflare:test';
import { exportJWK, generateKeyPair, jwtVerify, importJWK } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { clearKeyCache, getKeySet } from '../src/services/keys';
import { signAccessToken, verifyAccessToken } from '../src/services/tokens';
import { createDb } from '../src/storage/db';
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
        return getKeySet(db, env);
      }),
    );
    const rows = await env.DB.prepare("select kid from signing_keys where status = 'current'").all<{ kid: string }>();
    expect(rows.results).toHaveLength(1);
    for (const set of sets) expect(set.signing.kid).toBe(rows.results[0]!.kid);
  });

  it('publishes the key with kid, alg and use, and no private part', async () => {
    const response = await call('/.well-known/jwks.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toMatch(/max-age=\d+/);
    const { keys } = (await response.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(keys[0]!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keys[0]).not.toHaveProperty('d');
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
    await expect(getKeySet(ctx.db, ctx.env)).rejects.toThrow(/P-256/);
    clearKeyCache();
  });
});
