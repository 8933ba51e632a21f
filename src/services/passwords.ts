import { PBKDF2_ITERATIONS, PBKDF2_MAX_ITERATIONS, PBKDF2_SALT_BYTES } from '../config';
import { base64url, fromBase64url, timingSafeEqual } from '../lib/crypto';

// Stored form: `pbkdf2-sha256-nfkc$<iterations>$<salt>$<hash>` (salt and hash
// base64url). The string names its algorithm and parameters, so a later
// release can raise the cost or change the algorithm and rehash at the next
// sign-in. `-nfkc`: the password was normalized (normalizePassword) before
// hashing. Hashes tagged plain `pbkdf2-sha256` came before that tag and may
// hold the raw or the normalized password; they are rehashed at sign-in.
const ALGORITHM = 'pbkdf2-sha256-nfkc';
const UNTAGGED_ALGORITHM = 'pbkdf2-sha256';
const HASH_BYTES = 32;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<string> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, material, HASH_BYTES * 8);
  return base64url(new Uint8Array(bits));
}

/**
 * NIST SP 800-63B §5.1.1.2: a password is normalized with Unicode NFKC before
 * it is hashed, so the same characters typed as different code points (an
 * "é" composed or as e + U+0301, a full-width letter, a no-break space) are
 * the same password.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Hashes a password (normalized) with a fresh 16-byte salt at the configured cost. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(PBKDF2_SALT_BYTES));
  const hash = await derive(normalizePassword(password), salt, PBKDF2_ITERATIONS);
  return `${ALGORITHM}$${PBKDF2_ITERATIONS}$${base64url(salt)}$${hash}`;
}

/**
 * Checks a password against a stored hash in constant time; false for any
 * malformed hash. A `-nfkc` hash is checked against the normalized password
 * only: one PBKDF2 run. An untagged hash may hold the raw string (made before
 * passwords were normalized): when normalizing changes the password, the raw
 * form is tried too, so such an account still signs in, and its hash is then
 * redone with the tag (needsRehash).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 4 || (parts[0] !== ALGORITHM && parts[0] !== UNTAGGED_ALGORITHM)) return false;
  const iterations = Number(parts[1]);
  // Workers rejects more than 100,000 iterations in production: such a hash could never verify there.
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) return false;
  const salt = fromBase64url(parts[2] ?? '');
  const expected = parts[3] ?? '';
  const normalized = normalizePassword(password);
  if (timingSafeEqual(await derive(normalized, salt, iterations), expected)) return true;
  if (parts[0] === ALGORITHM || normalized === password) return false;
  return timingSafeEqual(await derive(password, salt, iterations), expected);
}

/** True when a stored hash was made with other parameters than today's and should be redone. */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(`${ALGORITHM}$${PBKDF2_ITERATIONS}$`);
}

// A real hash of a random password, to verify against when the email is
// unknown: the answer then takes as long as for a wrong password.
let dummyHash: Promise<string> | null = null;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(base64url(crypto.getRandomValues(new Uint8Array(16))));
  return dummyHash;
}
