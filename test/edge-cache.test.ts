import { env } from 'cloudflare:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import { app } from '../src/app';
import { JWKS_EDGE_MAX_AGE, KEY_CACHE_TTL } from '../src/config';
import { clearKeyCache, getKeySet, keysLastChangedAt, rotateSigningKeys } from '../src/services/keys';
import { signAccessToken } from '../src/services/tokens';
import { createDb } from '../src/storage/db';
import { ISSUER } from './helpers';

// Public documents at the edge (issue 16, item 4): the JWKS kept at the PoP
// through the Workers Cache API (caches.default, which workerd runs locally),
// its age bound across key rotation, and ETags on every public document.
// Requests go through app.request without an execution context, so a copy is
// stored before the answer: each test sees exactly what the PoP holds.

const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;
const deps = () => ({ db: createDb(env.DB), env });
const pop = () => (caches as unknown as { default: Cache }).default;

/** A request to the app over counting bindings: its answer and the D1 round trips it made. */
async function counted(url: string, init: RequestInit = {}, bindings: typeof env = env) {
  const counts = newCounts();
  const response = await app.request(url, init, countingBindings(bindings, counts));
  return { response, d1: counts.d1 };
}

async function kids(response: Response): Promise<string[]> {
  return ((await response.json()) as { keys: JWK[] }).keys.map((key) => key.kid!);
}

/** Makes this isolate's keys as old as KEY_CACHE_TTL, as in an isolate that has not read D1 for that long. */
async function ageIsolateKeys(): Promise<void> {
  (await getKeySet(deps())).loadedAt -= KEY_CACHE_TTL;
}

/** Puts a copy at the PoP as keepAtEdge would, with its own body, stored at `storedAt` (ms since the epoch). */
async function plantCopy(body: string, storedAt: number): Promise<void> {
  await pop().put(
    JWKS_URL,
    new Response(body, {
      headers: {
        'Content-Type': 'application/json',
        ETag: '"planted"',
        'Cache-Control': `public, max-age=${JWKS_EDGE_MAX_AGE}`,
        'X-Tollgate-Stored-At': String(storedAt),
      },
    }),
  );
}

describe('the JWKS at the PoP', () => {
  beforeEach(async () => {
    await env.DB.prepare('delete from signing_keys').run();
    clearKeyCache();
    await pop().delete(JWKS_URL);
  });

  it('a cold isolate answers from the PoP copy with no D1 round trip', async () => {
    const first = await counted(JWKS_URL);
    expect(first.response.status).toBe(200);
    expect(first.d1).toBeGreaterThan(0); // the keys made and read: nothing was kept yet
    const body = await first.response.text();
    await ageIsolateKeys();
    const second = await counted(JWKS_URL);
    expect(second.response.status).toBe(200);
    expect(await second.response.text()).toBe(body);
    expect(second.d1).toBe(0);
    // A query string is no way around the copy (and into D1).
    await ageIsolateKeys();
    const busted = await counted(`${JWKS_URL}?v=${Math.random()}`);
    expect(await busted.response.text()).toBe(body);
    expect(busted.d1).toBe(0);
  });

  it('a copy made before a rotation already holds the key that signs after it', async () => {
    const before = await kids(await app.request(JWKS_URL, {}, env));
    // The copy another PoP would still serve: nothing purges it there.
    const stale = (await (await pop().match(JWKS_URL))!.json()) as { keys: JWK[] };
    expect(stale.keys.map((key) => key.kid)).toEqual(before);
    const rotation = await rotateSigningKeys(deps());
    expect(before).toContain(rotation.current);
    const token = await signAccessToken({ ...deps(), issuer: ISSUER }, { sub: 'u1', clientId: 'c1', scope: ['books:read'], grantId: 'g1' });
    const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(stale), { issuer: ISSUER });
    expect(protectedHeader.kid).toBe(rotation.current);
  });

  it('the isolate that rotated serves the new key set at once, with the new next key', async () => {
    await app.request(JWKS_URL, {}, env); // a copy is kept
    const rotation = await rotateSigningKeys(deps());
    const after = await kids(await app.request(JWKS_URL, {}, env));
    expect(after).toEqual(expect.arrayContaining([rotation.current, rotation.next]));
  });

  it('a copy younger than JWKS_EDGE_MAX_AGE is served; an older one never is', async () => {
    const current = (await getKeySet(deps())).signing.kid;
    const storedAt = keysLastChangedAt() + 1; // after the last change this isolate knows of
    await plantCopy('{"keys":[]}', storedAt);
    const young = await app.request(JWKS_URL, {}, env);
    expect(await young.text()).toBe('{"keys":[]}');
    expect(young.headers.get('ETag')).toBe('"planted"');
    // The same copy, JWKS_EDGE_MAX_AGE later: the clock, not a purge, ends it.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(storedAt + JWKS_EDGE_MAX_AGE * 1000);
      const old = await app.request(JWKS_URL, {}, env);
      expect(await kids(old)).toContain(current);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a copy stored before this isolate learned its keys changed is not served', async () => {
    await plantCopy('{"keys":[]}', Date.now());
    clearKeyCache();
    expect((await kids(await app.request(JWKS_URL, {}, env))).length).toBeGreaterThan(0);
  });

  it('keys from the SIGNING_KEY secret are never kept at the PoP', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'operator-key' };
    const secretEnv = { ...env, SIGNING_KEY: JSON.stringify(jwk) };
    clearKeyCache();
    const response = await app.request(JWKS_URL, {}, secretEnv);
    expect(await kids(response)).toEqual(['operator-key']);
    expect(await pop().match(JWKS_URL)).toBeUndefined();
    clearKeyCache();
  });
});

describe('ETags on the public documents', () => {
  const documents = [
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
    '/.well-known/jwks.json',
    '/.well-known/oauth-protected-resource/api/books',
    '/.well-known/oauth-protected-resource/mcp',
  ];

  it.each(documents)('%s: a strong ETag, and 304 with no body for a client that holds it', async (path) => {
    const first = await app.request(`${ISSUER}${path}`, {}, env);
    expect(first.status).toBe(200);
    const etag = first.headers.get('ETag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(first.headers.get('Cache-Control')).toMatch(/^public, max-age=\d+$/);
    for (const ifNoneMatch of [etag!, `"other", W/${etag}`, '*']) {
      const again = await app.request(`${ISSUER}${path}`, { headers: { 'If-None-Match': ifNoneMatch } }, env);
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      expect(again.headers.get('ETag')).toBe(etag);
      expect(again.headers.get('Cache-Control')).toBe(first.headers.get('Cache-Control'));
    }
    const changed = await app.request(`${ISSUER}${path}`, { headers: { 'If-None-Match': '"not-it", garbage' } }, env);
    expect(changed.status).toBe(200);
    expect(await changed.json()).toEqual(await first.json());
  });

  it('the metadata ETag changes with what the document says (OPEN_REGISTRATION)', async () => {
    const path = `${ISSUER}/.well-known/openid-configuration`;
    const open = await app.request(path, {}, { ...env, OPEN_REGISTRATION: 'public' });
    const closed = await app.request(path, {}, { ...env, OPEN_REGISTRATION: 'off' });
    expect(open.headers.get('ETag')).not.toBe(closed.headers.get('ETag'));
    expect(await closed.json()).toMatchObject({ client_id_metadata_document_supported: false });
    // A client holding the document from before the change gets the new one, not a 304.
    const revalidated = await app.request(
      path,
      { headers: { 'If-None-Match': open.headers.get('ETag')! } },
      { ...env, OPEN_REGISTRATION: 'off' },
    );
    expect(revalidated.status).toBe(200);
  });
});
