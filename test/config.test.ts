import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_TTL,
  AUTH_REQUEST_TTL,
  CODE_TTL,
  KV_MIN_TTL,
  kvTtl,
  PBKDF2_ITERATIONS,
  PBKDF2_MAX_ITERATIONS,
  PBKDF2_SALT_BYTES,
} from '../src/config';
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

describe('password hashing', () => {
  it('stores algorithm, iterations, salt and hash, and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery');
    const [algorithm, iterations, salt, hash] = stored.split('$');
    expect(algorithm).toBe('pbkdf2-sha256');
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
  });
});
