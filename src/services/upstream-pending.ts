import { EncryptJWT, type JWTPayload, jwtDecrypt } from 'jose';
import type { Deps } from '../deps';
import { markUpstreamRequestUsed } from '../storage/user-identities';
import { sealingKeys } from './sealing';

// What an upstream sign-in keeps between its steps, carried by the browser
// in an HttpOnly cookie, sealed so it can neither read nor change it: a
// compact JWE (RFC 7516) with `dir` and A256GCM, as sealed authorization
// requests are, with a key derived as theirs is (services/sealing.ts, which
// explains the key: HKDF-SHA256 from the signing key's private scalar, RFC
// 5869). The `info` label here is another one, so these keys are independent
// of the authorization requests' (RFC 5869 §3.2; NIST SP 800-57 Part 1 §5.2),
// and each kind has its own JOSE `typ` (RFC 8725 §3.11), so a pending link
// never opens as a pending sign-in, nor the other way round.
//
// Each is used once: its id goes into D1 on use, atomically
// (storage/user-identities.ts markUpstreamRequestUsed), so a replayed cookie
// is refused even within its lifetime.

/** HKDF `info`: what the derived key is for. */
export const PENDING_KEY_INFO = 'Tollgate pending upstream sign-in, A256GCM, v1';
const keys = sealingKeys(PENDING_KEY_INFO);

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

/** Seals `value` as a `type`, expiring `ttl` seconds after its `createdAt`. */
export async function sealPending<T extends Sealable>(deps: Deps, type: PendingType, value: T, ttl: number): Promise<string> {
  const { kid, key } = await keys.current(deps);
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
    const { payload } = await jwtDecrypt(sealed, keys.named(deps), {
      typ: PENDING_TYPES[type],
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
      requiredClaims: ['jti', 'exp'],
    });
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
