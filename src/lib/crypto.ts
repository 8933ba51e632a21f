import { SECRET_BYTES } from '../config';

const encoder = new TextEncoder();

/** base64url without padding (RFC 4648 §5), the encoding of every token Tollgate mints. */
export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** A fresh random secret: 256 bits, base64url. */
export function randomSecret(bytes = SECRET_BYTES): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/** The form in which a secret (code, client secret, session id) is stored: SHA-256, base64url. */
export async function hashSecret(secret: string): Promise<string> {
  return base64url(await sha256(secret));
}

/** Compares two strings in time independent of where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  // timingSafeEqual throws on a length mismatch; compare against itself to keep
  // the time spent independent of the contents, then answer false.
  if (left.byteLength !== right.byteLength) {
    crypto.subtle.timingSafeEqual(left, left);
    return false;
  }
  return crypto.subtle.timingSafeEqual(left, right);
}

/** Seconds since the epoch: the unit of every time stored in D1 and every JWT claim. */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * HKDF-SHA256 (RFC 5869): `bytes` of output keying material from the input
 * keying material `ikm`, the `salt` and the `info` label. The label binds the
 * output to one use, so that keys for different purposes derived from the
 * same secret are independent (RFC 5869 §3.2).
 */
export async function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, bytes = 32): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, material, bytes * 8));
}
