// The pure parts of checking a DPoP proof (RFC 9449 §4.3): no key, no clock
// source of its own, no storage. services/dpop.ts verifies the signature and
// decides; helpers/dpop.ts reads the request.

import { base64url, sha256 } from './crypto';

/** The error codes of RFC 9449 §12.2: a proof that fails a check, or one without the nonce the server asks for (§8, §9). */
export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

/** Why a DPoP proof is refused; helpers/dpop.ts turns it into the endpoint's answer (a 400 or a 401 challenge). */
export class DpopProofError extends Error {
  readonly code: DpopErrorCode;

  constructor(code: DpopErrorCode, description: string) {
    super(description);
    this.name = 'DpopProofError';
    this.code = code;
  }
}

/**
 * JWK members that only a private or symmetric key has (RFC 7518 §6.2.2,
 * §6.3.2, §6.4.1; RFC 8037 §2): a proof's `jwk` must be a public key
 * (RFC 9449 §4.3 (7)), and one that carries a private part has leaked it.
 */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** Whether a proof's `jwk` header holds any private or symmetric key material. */
export function hasPrivateMembers(jwk: Record<string, unknown>): boolean {
  return PRIVATE_JWK_MEMBERS.some((member) => member in jwk);
}

/**
 * The one DPoP proof of a request (RFC 9449 §4.3 (1): "there is not more
 * than one DPoP HTTP request header field"), or null when there is none.
 * Fetch joins repeated fields with ", ", and a compact JWS holds no comma or
 * space, so either means more than one (or something that is no proof).
 */
export function singleProof(value: string | null | undefined, maxLength: number): string | null {
  if (value === null || value === undefined) return null;
  if (value.length === 0) throw new DpopProofError('invalid_dpop_proof', 'the DPoP header is empty');
  if (/[,\s]/.test(value)) throw new DpopProofError('invalid_dpop_proof', 'a request carries exactly one DPoP header');
  if (value.length > maxLength) throw new DpopProofError('invalid_dpop_proof', `the DPoP proof is longer than ${maxLength} characters`);
  return value;
}

/**
 * An HTTP(S) URI without its query and fragment, normalized the way the URL
 * parser does (RFC 3986 §6.2.2 and §6.2.3: case of scheme and host, default
 * port, dot segments, percent-encoding), for RFC 9449 §4.3 (9): `htu` is
 * compared to the request's URI "ignoring any query and fragment parts".
 * Null for anything that is not an absolute http(s) URI.
 */
export function normalizedHtu(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username || url.password) return null;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII bytes. */
export async function accessTokenHashForProof(accessToken: string): Promise<string> {
  return base64url(await sha256(accessToken));
}

/** A JWK SHA-256 thumbprint (RFC 7638) as `cnf.jkt` and `dpop_jkt` carry it: 43 base64url characters. */
export const JKT_PATTERN = /^[A-Za-z0-9_-]{43}$/;
