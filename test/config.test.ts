import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_TTL,
  AUTH_REQUEST_TTL,
  CLIENT_ID_MAX_LENGTH,
  CLIENT_SECRET_MAX_LENGTH,
  CLIENT_VALUE_MAX_LENGTH,
  CODE_TTL,
  GRANT_TYPES,
  JWKS_MAX_AGE,
  KEY_CACHE_TTL,
  KEY_RELOAD_MIN_INTERVAL,
  KEYWORD_MAX_LENGTH,
  KV_MIN_TTL,
  kvTtl,
  OPAQUE_TOKEN_MAX_LENGTH,
  PARAMETER_MAX_LENGTH,
  PBKDF2_ITERATIONS,
  PBKDF2_MAX_ITERATIONS,
  PBKDF2_SALT_BYTES,
  RATE_LIMIT_WINDOW,
  REDIRECT_URI_MAX_LENGTH,
  RETIRED_KEY_GRACE,
  SCOPE_MAX_LENGTH,
  TOKEN_MAX_LENGTH,
} from '../src/config';
import { base64url, fromBase64url, randomSecret } from '../src/lib/crypto';
import { hashPassword, needsRehash, verifyPassword } from '../src/services/passwords';

// Local workerd does not enforce production limits, so they are asserted here.
describe('production limits', () => {
  it('keeps PBKDF2 at no more than 100,000 iterations, the Workers production cap', () => {
    expect(PBKDF2_MAX_ITERATIONS).toBe(100_000);
    expect(PBKDF2_ITERATIONS).toBeLessThanOrEqual(100_000);
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(100_000);
    expect(PBKDF2_SALT_BYTES).toBe(16);
  });

  it('refuses a KV TTL under 60 seconds, KV minimum', () => {
    expect(() => kvTtl(59)).toThrow(RangeError);
    expect(() => kvTtl(0)).toThrow(RangeError);
    expect(() => kvTtl(60.5)).toThrow(RangeError);
    expect(kvTtl(60)).toBe(60);
    expect(KV_MIN_TTL).toBe(60);
  });

  it('gives every KV value a lifetime KV accepts', () => {
    expect(kvTtl(CODE_TTL)).toBe(CODE_TTL);
    expect(kvTtl(AUTH_REQUEST_TTL)).toBe(AUTH_REQUEST_TTL);
    expect(CODE_TTL).toBeLessThanOrEqual(10 * 60); // RFC 6749 §4.1.2
    expect(ACCESS_TOKEN_TTL).toBe(600);
  });
});

describe('defaults that fit together', () => {
  it('keeps a retired key published for longer than any token it signed can be cached and live', () => {
    expect(RETIRED_KEY_GRACE).toBeGreaterThanOrEqual(ACCESS_TOKEN_TTL + JWKS_MAX_AGE + KEY_CACHE_TTL);
    expect(KEY_RELOAD_MIN_INTERVAL).toBeGreaterThan(0);
    expect(KEY_RELOAD_MIN_INTERVAL).toBeLessThan(KEY_CACHE_TTL);
    expect(kvTtl(RATE_LIMIT_WINDOW)).toBe(RATE_LIMIT_WINDOW);
  });

  it('accepts every value Tollgate issues within its parameter limits', () => {
    expect(randomSecret(16).length).toBeLessThanOrEqual(CLIENT_ID_MAX_LENGTH); // client ids
    expect(randomSecret().length).toBeLessThanOrEqual(CLIENT_SECRET_MAX_LENGTH); // client secrets
    expect(randomSecret().length).toBeLessThanOrEqual(OPAQUE_TOKEN_MAX_LENGTH); // codes, refresh tokens
    for (const grantType of GRANT_TYPES) expect(grantType.length).toBeLessThanOrEqual(KEYWORD_MAX_LENGTH);
  });

  it('lets the token endpoint pass on every parameter a grant may take', () => {
    // The endpoint bounds every parameter by PARAMETER_MAX_LENGTH before the grant's own schema sees it.
    for (const limit of [OPAQUE_TOKEN_MAX_LENGTH, REDIRECT_URI_MAX_LENGTH, SCOPE_MAX_LENGTH, CLIENT_VALUE_MAX_LENGTH, TOKEN_MAX_LENGTH]) {
      expect(limit).toBeLessThanOrEqual(PARAMETER_MAX_LENGTH);
    }
  });
});

describe('password hashing', () => {
  it('stores algorithm, iterations, salt and hash, and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery');
    const [algorithm, iterations, salt, hash] = stored.split('$');
    expect(algorithm).toBe('pbkdf2-sha256-nfkc');
    expect(Number(iterations)).toBe(PBKDF2_ITERATIONS);
    expect(salt).toMatch(/^[A-Za-z0-9_-]{22}$/); // 16 bytes
    expect(hash).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('salts every hash afresh', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  it('refuses malformed hashes and counts above the production cap', async () => {
    const stored = await hashPassword('secret password');
    expect(await verifyPassword('secret password', stored.replace('$100000$', '$200000$'))).toBe(false);
    expect(await verifyPassword('secret password', 'bcrypt$10$abc$def')).toBe(false);
    expect(await verifyPassword('secret password', 'garbage')).toBe(false);
    expect(needsRehash('pbkdf2-sha256$50000$a$b')).toBe(true);
    // An untagged hash at today's cost is redone too, with the -nfkc tag.
    expect(needsRehash(stored.replace('pbkdf2-sha256-nfkc$', 'pbkdf2-sha256$'))).toBe(true);
  });

  it('checks a tagged hash against the normalized password only: the raw form of a password NFKC changes does not match', async () => {
    const raw = 'cafe\u0301 \ufb01le';
    // A hash of the raw string, tagged as normalized, which hashPassword never makes: only the normalized form is tried.
    const rawHash = (await hashPassword('placeholder')).split('$');
    const salt = fromBase64url(rawHash[2]!);
    const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(raw), 'PBKDF2', false, ['deriveBits']);
    const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: PBKDF2_ITERATIONS }, material, 256);
    const overRaw = [rawHash[0], rawHash[1], rawHash[2], base64url(new Uint8Array(bits))].join('$');
    expect(await verifyPassword(raw, overRaw)).toBe(false);
    // The same hash untagged (as made before normalization) verifies through the raw form.
    expect(await verifyPassword(raw, overRaw.replace('pbkdf2-sha256-nfkc$', 'pbkdf2-sha256$'))).toBe(true);
    expect(await verifyPassword(raw, await hashPassword(raw))).toBe(true);
  });
});
