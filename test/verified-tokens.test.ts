import { env } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VERIFIED_TOKEN_CACHE_SIZE } from '../src/config';
import { clearKeyCache, getKeySet } from '../src/services/keys';
import { resourceAudience, signAccessToken, verifiedTokenCount, verifyAccessToken } from '../src/services/tokens';
import { createDb } from '../src/storage/db';
import { ISSUER } from './helpers';

// verifyAccessToken remembers the tokens it verified (tokens.ts). These hold
// the limits of that memory: the key set that verified a token, its `exp`, its
// exact bytes, and a bounded size. (That revocation still ends a remembered
// token at once is held by test/revoke.test.ts, which uses a token, revokes it
// and is refused.)
describe('verified access tokens remembered by the isolate', () => {
  const ctx = { db: createDb(env.DB), env, issuer: ISSUER };
  const claims = { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' };

  beforeEach(() => clearKeyCache());
  afterEach(() => vi.useRealTimers());

  it('forgets a token once the keys that verified it are gone', async () => {
    const token = await signAccessToken(ctx, claims);
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
    // Every key is replaced: a new key set is made on the next load.
    await env.DB.prepare('delete from signing_keys').run();
    clearKeyCache();
    expect(await verifyAccessToken(ctx, token)).toBeNull();
  });

  it('never answers for a token past its exp, though the keys are unchanged', async () => {
    // A token that lives 2 s, signed with the current key, so its exp comes
    // well inside the key cache's lifetime: only the remembered entry's own
    // exp check can refuse it.
    const { signing } = await getKeySet({ db: ctx.db, env: env });
    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: 'u1', client_id: 'c1', scope: 'books:read', gid: 'g1', jti: 'j1' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: signing.kid })
      .setIssuer(ISSUER)
      .setAudience(resourceAudience(ISSUER))
      .setIssuedAt(iat)
      .setExpirationTime(iat + 2)
      .sign(signing.key);
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1', exp: iat + 2 });
    vi.useFakeTimers({ now: (iat + 3) * 1000, toFake: ['Date'] });
    expect(await getKeySet({ db: ctx.db, env: env })).toBe(await getKeySet({ db: ctx.db, env: env }));
    expect(await verifyAccessToken(ctx, token)).toBeNull();
  });

  it('remembers only the exact bytes it verified: a changed signature is refused', async () => {
    const token = await signAccessToken(ctx, claims);
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1);
    expect(await verifyAccessToken(ctx, `${header}.${payload}.${flipped}`)).toBeNull();
    expect(await verifyAccessToken(ctx, token)).toMatchObject({ sub: 'u1' });
  });

  it('answers a remembered token with the same claims, which callers cannot change', async () => {
    const token = await signAccessToken(ctx, claims);
    const first = await verifyAccessToken(ctx, token);
    const second = await verifyAccessToken(ctx, token);
    expect(second).toEqual(first);
    expect(() => second!.scope.push('books:write')).toThrow(TypeError);
  });

  it('stays bounded', async () => {
    const extra = 5;
    for (let i = 0; i < VERIFIED_TOKEN_CACHE_SIZE + extra; i++) {
      expect(await verifyAccessToken(ctx, await signAccessToken(ctx, { ...claims, sub: `u${i}` }))).not.toBeNull();
    }
    expect(verifiedTokenCount()).toBe(VERIFIED_TOKEN_CACHE_SIZE);
  });
});
