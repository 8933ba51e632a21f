import { base64url, fromBase64url, sha256 } from '../lib/crypto';

/**
 * Private signing keys at rest: when the KEY_ENCRYPTION_KEY secret is set,
 * each private JWK is sealed with AES-256-GCM under a key derived from it, with
 * the key's kid as additional data (a sealed key cannot be moved to another
 * row). Stored form: `aes256gcm:<iv>:<ciphertext>`, base64url. Without the
 * secret the JWK is stored as JSON, which keys.ts allows only for a loopback
 * issuer; such rows (and those an older version made) stay readable after the
 * secret is set, and new keys are sealed from the next rotation on.
 */
const PREFIX = 'aes256gcm:';
const encoder = new TextEncoder();

async function keyFromSecret(secret: string): Promise<CryptoKey> {
  // The secret is expected to be high-entropy (32 random bytes, base64): one
  // SHA-256 turns it into an AES-256 key of the right size.
  return crypto.subtle.importKey('raw', await sha256(secret), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** Whether a stored private key is sealed (false: plain JWK JSON, readable by whoever reads D1). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The stored form of a private JWK: sealed under `secret`, or JSON when there is none (loopback only, see keys.ts). */
export async function sealPrivateJwk(jwk: JsonWebKey, kid: string, secret: string | undefined): Promise<string> {
  const plain = JSON.stringify(jwk);
  if (!secret) return plain;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(kid) },
    await keyFromSecret(secret),
    encoder.encode(plain),
  );
  return `${PREFIX}${base64url(iv)}:${base64url(new Uint8Array(sealed))}`;
}

/** The private JWK from its stored form, sealed or not; a sealed one needs the secret. */
export async function openPrivateJwk(stored: string, kid: string, secret: string | undefined): Promise<JsonWebKey> {
  if (!isSealed(stored)) return JSON.parse(stored) as JsonWebKey;
  if (!secret) throw new Error(`signing key ${kid} is encrypted but KEY_ENCRYPTION_KEY is not set`);
  const [iv = '', ciphertext = ''] = stored.slice(PREFIX.length).split(':');
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64url(iv), additionalData: encoder.encode(kid) },
    await keyFromSecret(secret),
    fromBase64url(ciphertext),
  );
  return JSON.parse(new TextDecoder().decode(plain)) as JsonWebKey;
}

/**
 * A short secret other than a signing key (a TOTP secret) at rest, sealed as
 * a private JWK is: AES-256-GCM under a key derived from KEY_ENCRYPTION_KEY,
 * with `context` as additional data so that a sealed value cannot be moved to
 * another row or purpose. Without the KEK the text is stored as it is; the
 * caller decides whether that is allowed (loopback only, as for keys).
 */
export async function sealText(plain: string, context: string, secret: string | undefined): Promise<string> {
  if (!secret) return plain;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
    await keyFromSecret(secret),
    encoder.encode(plain),
  );
  return `${PREFIX}${base64url(iv)}:${base64url(new Uint8Array(sealed))}`;
}

/** The text from its stored form (`sealText`), sealed or not; a sealed one needs the secret and the same context. */
export async function openText(stored: string, context: string, secret: string | undefined): Promise<string> {
  if (!isSealed(stored)) return stored;
  if (!secret) throw new Error('a sealed secret is stored but KEY_ENCRYPTION_KEY is not set');
  const [iv = '', ciphertext = ''] = stored.slice(PREFIX.length).split(':');
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64url(iv), additionalData: encoder.encode(context) },
    await keyFromSecret(secret),
    fromBase64url(ciphertext),
  );
  return new TextDecoder().decode(plain);
}
