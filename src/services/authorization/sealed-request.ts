import { EncryptJWT, type JWK, jwtDecrypt } from 'jose';
import { AUTH_REQUEST_TTL, RETIRED_KEY_GRACE } from '../../config';
import type { Deps } from '../../deps';
import { fromBase64url, now } from '../../lib/crypto';
import { listPublishedKeys } from '../../storage/keys';
import { openPrivateJwk } from '../key-encryption';
import { getKeySet, getVerificationKey } from '../keys';
import type { AuthorizationRequest } from './request';

// A pending authorization request sealed for the browser to carry while it
// signs in, so that a signed-out visitor makes Tollgate store nothing (issue
// 11, finding 6; OWASP API4:2023, unrestricted resource consumption). Sealed,
// not only signed: a compact JWE (RFC 7516) with `dir` and A256GCM (RFC 7518
// §5.3), so the browser can neither read nor change it, and no relying party
// could mistake it for a token, as it could a JWS made with the keys that
// sign ID tokens (RFC 8725 §2.8).
//
// The AES key needs no new operator secret: it is derived with HKDF-SHA256
// (RFC 5869) from the private scalar of the signing key, under an `info` used
// for nothing else, so the AES key and the ECDSA key are independent (NIST SP
// 800-108r1 §6.3; SP 800-57 Part 1 §5.2: one key, one purpose). The JWE names
// the signing key by `kid`, and any published key opens it: a request sealed
// just before a key rotation still opens after it, for as long as the retired
// key is published (RETIRED_KEY_GRACE, far longer than AUTH_REQUEST_TTL).

/** JOSE `typ` of a sealed request (RFC 8725 §3.11: explicit typing). */
const SEALED_REQUEST_TYPE = 'tollgate-authreq+jwt';
/** HKDF `info`: what the derived key is for; a new use gets a new label, never this key. */
const HKDF_INFO = new TextEncoder().encode('Tollgate pending authorization request, A256GCM, v1');

// Derived keys by signing-key id. A kid is the key's JWK thumbprint (RFC
// 7638) or the SIGNING_KEY secret's own, so an entry can never go stale;
// published keys are few (next, current and the recently retired).
const derived = new Map<string, Uint8Array>();

/**
 * The private JWK of published signing key `kid`, from where keys.ts takes
 * keys: the SIGNING_KEY secret when it is set, otherwise the key's D1 row
 * (opened with KEY_ENCRYPTION_KEY when sealed). Null when no such key is
 * published. One D1 read, once per key per isolate.
 */
async function privateJwk(deps: Deps, kid: string): Promise<JWK | null> {
  if (deps.env.SIGNING_KEY) return JSON.parse(deps.env.SIGNING_KEY) as JWK;
  const row = (await listPublishedKeys(deps.db, now() - RETIRED_KEY_GRACE)).find((key) => key.kid === kid);
  return row ? ((await openPrivateJwk(row.privateJwk, row.kid, deps.env.KEY_ENCRYPTION_KEY)) as JWK) : null;
}

/** The AES-256 key that seals requests under signing key `kid`, or null when that key is not published. */
async function sealingKey(deps: Deps, kid: string): Promise<Uint8Array | null> {
  const known = derived.get(kid);
  if (known) return known;
  const jwk = await privateJwk(deps, kid);
  if (!jwk?.d) return null;
  const material = await crypto.subtle.importKey('raw', fromBase64url(jwk.d), 'HKDF', false, ['deriveBits']);
  const salt = new TextEncoder().encode(kid);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info: HKDF_INFO }, material, 256);
  const key = new Uint8Array(bits);
  derived.set(kid, key);
  return key;
}

/**
 * Seals `request` under the current signing key: a compact JWE that expires
 * with the request (`createdAt` + AUTH_REQUEST_TTL) and names it (`jti`), so
 * that it opens only for its own id.
 */
export async function sealRequest(deps: Deps, request: AuthorizationRequest): Promise<string> {
  const { kid } = (await getKeySet(deps)).signing;
  const key = await sealingKey(deps, kid);
  if (!key) throw new Error(`the current signing key ${kid} has no private key to derive from`);
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
    const { payload } = await jwtDecrypt(
      sealed,
      async function keyNamedInHeader({ kid }) {
        // Only a published key's kid is looked up: a made-up kid costs no D1 read of its own.
        const key = kid && (await getVerificationKey(deps, kid)) ? await sealingKey(deps, kid) : null;
        if (!key) throw new Error('not sealed under a published key');
        return key;
      },
      {
        typ: SEALED_REQUEST_TYPE,
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        requiredClaims: ['jti', 'exp'],
      },
    );
    const request = payload.req as AuthorizationRequest | undefined;
    return payload.jti === id && request?.id === id ? request : null;
  } catch {
    // Any JOSE failure (authentication tag, header, expiry) means "not a request Tollgate kept".
    return null;
  }
}
