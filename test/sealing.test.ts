import { describe, expect, it } from 'vitest';
import { fromBase64url, hkdfSha256 } from '../src/lib/crypto';
import { SEALED_REQUEST_KEY_INFO } from '../src/services/authorization/sealed-request';
import { deriveSealingKey } from '../src/services/sealing';
import { PENDING_KEY_INFO } from '../src/services/upstream-pending';

const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));

describe('sealing keys', () => {
  it('HKDF-SHA256 gives the output of RFC 5869 Appendix A.1', async () => {
    const okm = await hkdfSha256(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(hex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  // Known answers computed with the derivation each module had on its own
  // before they shared one: a sealed cookie in flight must still open.
  it('derives the same bytes as before for both uses, and different keys for each', async () => {
    const secret = fromBase64url('dG9sbGdhdGUgc2VhbGluZyBrZXkga25vd24gYW5zd2U');
    const kid = 'kid-known-answer';
    expect(SEALED_REQUEST_KEY_INFO).toBe('Tollgate pending authorization request, A256GCM, v1');
    expect(PENDING_KEY_INFO).toBe('Tollgate pending upstream sign-in, A256GCM, v1');
    expect(hex(await deriveSealingKey(secret, kid, SEALED_REQUEST_KEY_INFO))).toBe(
      '08d4fac2ae785f9d9825a2505ed884d96402ed4e7d18889424ef0a52b6d7f3e3',
    );
    expect(hex(await deriveSealingKey(secret, kid, PENDING_KEY_INFO))).toBe(
      'e8f7558ff4bc43bdd1984184fa50125db1eb32b514f88135574506ee60c37dbf',
    );
  });
});
