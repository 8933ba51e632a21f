import { EncryptJWT, type JWK, type JWTPayload, jwtDecrypt } from 'jose';
import { RETIRED_KEY_GRACE } from '../config';
import type { Deps } from '../deps';
import { fromBase64url, now } from '../lib/crypto';
import { listPublishedKeys } from '../storage/keys';
import { markUpstreamRequestUsed } from '../storage/user-identities';
import { openPrivateJwk } from './key-encryption';
import { getKeySet, getVerificationKey } from './keys';

// What an upstream sign-in keeps between its steps, carried by the browser
// in an HttpOnly cookie, sealed so it can neither read nor change it: a
// compact JWE (RFC 7516) with `dir` and A256GCM, as sealed authorization
// requests are (services/authorization/sealed-request.ts, which explains the
// key: HKDF-SHA256 from the signing key's private scalar, RFC 5869). The
// `info` label here is another one, so these keys are independent of the
// authorization requests' (NIST SP 800-57 Part 1 §5.2: one key, one purpose),
// and each kind has its own JOSE `typ` (RFC 8725 §3.11), so a pending link
// never opens as a pending sign-in, nor the other way round.
//
// Each is used once: its id goes into D1 on use, atomically
// (storage/user-identities.ts markUpstreamRequestUsed), so a replayed cookie
// is refused even within its lifetime.

/** HKDF `info`: what the derived key is for. */
const HKDF_INFO = new TextEncoder().encode('Tollgate pending upstream sign-in, A256GCM, v1');

/** The kinds of sealed state, each with its JOSE `typ`. */
export const PENDING_TYPES = {
  signIn: 'tollgate-upstream-signin+jwt',
  link: 'tollgate-upstream-link+jwt',
} as const;
export type PendingType = keyof typeof PENDING_TYPES;

/** A pending sign-in: what the callback checks the provider's answer against (RFC 9700 §4.7, OIDC Core §3.1.2.1). */
export interface PendingSignIn {
  /** Random; recorded in D1 on use. */
  id: string;
  /** The provider the browser was sent to: the callback must be this provider's. */
  provider: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to go once signed in (already checked by safeReturnTo). */
  returnTo: string;
  createdAt: number;
}

/** A pending link: a provider account whose verified email is an existing account's, waiting for that account's owner to sign in. */
export interface PendingLink {
  id: string;
  provider: string;
  subject: string;
  email: string;
  userId: string;
  returnTo: string;
  createdAt: number;
}

type Sealable = { id: string; createdAt: number };

const derived = new Map<string, Uint8Array>();

/** The private JWK of published signing key `kid` (SIGNING_KEY, or its D1 row), or null. */
async function privateJwk(deps: Deps, kid: string): Promise<JWK | null> {
  if (deps.env.SIGNING_KEY) return JSON.parse(deps.env.SIGNING_KEY) as JWK;
  const row = (await listPublishedKeys(deps.db, now() - RETIRED_KEY_GRACE)).find((key) => key.kid === kid);
  return row ? ((await openPrivateJwk(row.privateJwk, row.kid, deps.env.KEY_ENCRYPTION_KEY)) as JWK) : null;
}

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

/** Seals `value` as a `type`, expiring `ttl` seconds after its `createdAt`. */
export async function sealPending<T extends Sealable>(deps: Deps, type: PendingType, value: T, ttl: number): Promise<string> {
  const { kid } = (await getKeySet(deps)).signing;
  const key = await sealingKey(deps, kid);
  if (!key) throw new Error(`the current signing key ${kid} has no private key to derive from`);
  return new EncryptJWT({ pending: value } as unknown as JWTPayload)
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, typ: PENDING_TYPES[type] })
    .setJti(value.id)
    .setIssuedAt(value.createdAt)
    .setExpirationTime(value.createdAt + ttl)
    .encrypt(key);
}

/** What `sealed` holds when Tollgate sealed it as a `type` and it has not expired; null for anything else. */
export async function openPending<T extends Sealable>(deps: Deps, type: PendingType, sealed: string): Promise<T | null> {
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
        typ: PENDING_TYPES[type],
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        requiredClaims: ['jti', 'exp'],
      },
    );
    const value = payload.pending as T | undefined;
    return value && typeof value.id === 'string' && payload.jti === value.id ? value : null;
  } catch {
    // Any JOSE failure (tag, header, type, expiry) means "not state Tollgate sealed for this".
    return null;
  }
}

/** Uses pending state once: true the first time its id is presented, false for a replay. */
export function usePending(deps: Deps, value: Sealable, ttl: number): Promise<boolean> {
  return markUpstreamRequestUsed(deps.db, value.id, value.createdAt + ttl);
}
