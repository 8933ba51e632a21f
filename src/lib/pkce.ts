import { base64url, sha256 } from './crypto';

/** RFC 7636 §4.1: 43 to 128 characters from the unreserved set. */
export const CODE_VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;
/** An S256 challenge is base64url(SHA-256(verifier)): always 43 characters (RFC 7636 §4.2). */
export const S256_CHALLENGE_PATTERN = /^[A-Za-z0-9\-_]{43}$/;

/** RFC 7636 §4.2: code_challenge = BASE64URL(SHA256(ASCII(code_verifier))). */
export async function s256Challenge(verifier: string): Promise<string> {
  return base64url(await sha256(verifier));
}
