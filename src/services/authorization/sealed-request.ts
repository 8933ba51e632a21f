import { EncryptJWT, jwtDecrypt } from 'jose';
import { AUTH_REQUEST_TTL } from '../../config';
import type { Deps } from '../../deps';
import { sealingKeys } from '../sealing';
import type { AuthorizationRequest } from './request';

// A pending authorization request sealed for the browser to carry while it
// signs in, so that a signed-out visitor makes Tollgate store nothing (issue
// 11, finding 6; OWASP API4:2023, unrestricted resource consumption). Sealed,
// not only signed: a compact JWE (RFC 7516) with `dir` and A256GCM (RFC 7518
// §5.3), so the browser can neither read nor change it, and no relying party
// could mistake it for a token, as it could a JWS made with the keys that
// sign ID tokens (RFC 8725 §2.8).
//
// The AES key needs no new operator secret: it is derived from the signing
// key under a label of its own (services/sealing.ts, which explains the key).

/** JOSE `typ` of a sealed request (RFC 8725 §3.11: explicit typing). */
const SEALED_REQUEST_TYPE = 'tollgate-authreq+jwt';
/** HKDF `info`: what the derived key is for; a new use gets a new label, never this key. */
export const SEALED_REQUEST_KEY_INFO = 'Tollgate pending authorization request, A256GCM, v1';
const keys = sealingKeys(SEALED_REQUEST_KEY_INFO);

/**
 * Seals `request` under the current signing key: a compact JWE that expires
 * with the request (`createdAt` + AUTH_REQUEST_TTL) and names it (`jti`), so
 * that it opens only for its own id.
 */
export async function sealRequest(deps: Deps, request: AuthorizationRequest): Promise<string> {
  const { kid, key } = await keys.current(deps);
  return new EncryptJWT({ req: request })
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, typ: SEALED_REQUEST_TYPE })
    .setJti(request.id)
    .setIssuedAt(request.createdAt)
    .setExpirationTime(request.createdAt + AUTH_REQUEST_TTL)
    .encrypt(key);
}

/**
 * The request sealed in `sealed`, when it is one Tollgate sealed for request
 * `id` and it has not expired; null for anything else (tampered, sealed under
 * a key no longer published or not Tollgate's, another request's, expired).
 */
export async function openSealedRequest(deps: Deps, id: string, sealed: string): Promise<AuthorizationRequest | null> {
  try {
    const { payload } = await jwtDecrypt(sealed, keys.named(deps), {
      typ: SEALED_REQUEST_TYPE,
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
      requiredClaims: ['jti', 'exp'],
    });
    const request = payload.req as AuthorizationRequest | undefined;
    return payload.jti === id && request?.id === id ? request : null;
  } catch {
    // Any JOSE failure (authentication tag, header, expiry) means "not a request Tollgate kept".
    return null;
  }
}
