import { calculateJwkThumbprint, EmbeddedJWK, errors, type JWK, jwtVerify } from 'jose';
import { DPOP_JTI_MAX_LENGTH, DPOP_NONCE_SLOT, DPOP_PROOF_MAX_AGE, DPOP_PROOF_MAX_FUTURE, DPOP_SIGNING_ALGS } from '../config';
import type { Deps } from '../deps';
import { base64url, hashSecret, now, timingSafeEqual } from '../lib/crypto';
import { accessTokenHashForProof, DpopProofError, hasPrivateMembers, normalizedHtu } from '../lib/dpop';
import { guardedClientQuery } from '../storage/clients';
import { recordProofOfClientStatement } from '../storage/dpop-proofs';
import type { Client } from '../storage/schema';
import { inClientBatch, type PendingClient } from './client-authentication';

// DPoP, RFC 9449: a client proves, with every token request and every call
// with its token, that it holds the private key the token is bound to. The
// proof is a JWT signed with that key, carrying the public key in its header,
// for one method and URI, at one time, once.

/** A proof that passed every check but single use, which the caller's D1 batch decides (storage/dpop-proofs.ts). */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: `cnf.jkt` of what it binds (RFC 9449 §6.1). */
  jkt: string;
  /** SHA-256 of the thumbprint and the `jti`: the replay row's key, bounded whatever the client sent. */
  replayHash: string;
  /** When the proof's `iat` leaves the accepted window: the replay row may go then. */
  expiresAt: number;
}

/** What a proof is checked against: the request it came with. */
export interface ProofExpectation {
  /** The request's method (RFC 9449 §4.3 (8) `htm`). */
  method: string;
  /** The request's URI as the issuer names it, never from the Host header (§4.3 (9) `htu`). */
  uri: string;
  /** At a resource: the access token the proof must name by hash (§4.3 (12) `ath`). */
  accessToken?: string;
  /** Whether the proof must carry a nonce this server issued (§8, §9). */
  requireNonce: boolean;
}

/** The algorithms a proof may use, for `dpop_signing_alg_values_supported` and the `algs` of a challenge. */
export const DPOP_ALGORITHMS: readonly string[] = DPOP_SIGNING_ALGS;

/**
 * Checks a DPoP proof (RFC 9449 §4.3) against its request: one well-formed
 * JWT, `typ` dpop+jwt, an asymmetric algorithm this server supports, a public
 * `jwk` that verifies the signature, `htm` and `htu` of this request, `iat`
 * within DPOP_PROOF_MAX_AGE before and DPOP_PROOF_MAX_FUTURE after now, a
 * bounded `jti`, `ath` of the access token at a resource, and this server's
 * nonce when one is required (or sent). Throws DpopProofError. Single use is
 * the caller's D1 batch: no storage here, no round trip.
 */
export async function verifyDpopProof(deps: Deps, proof: string, expected: ProofExpectation): Promise<DpopProof> {
  let header: { jwk?: JWK };
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      // §4.3 (5): never none nor a MAC; jose refuses any algorithm not listed.
      algorithms: [...DPOP_SIGNING_ALGS],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    header = verified.protectedHeader as { jwk?: JWK };
    payload = verified.payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof TypeError) {
      throw new DpopProofError('invalid_dpop_proof', `the DPoP proof does not verify: ${proofFailure(proof, error)}`);
    }
    throw error;
  }
  const jwk = header.jwk;
  // §4.3 (7): a public key only. jose imported it as one; a header that also
  // carries private members is refused, not read past (the key has leaked).
  if (!jwk || hasPrivateMembers(jwk as Record<string, unknown>)) {
    throw new DpopProofError('invalid_dpop_proof', 'the DPoP proof jwk must be a public key without private members');
  }
  const { jti, htm, htu, iat, ath, nonce } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > DPOP_JTI_MAX_LENGTH) {
    throw new DpopProofError('invalid_dpop_proof', `the DPoP proof jti must be 1 to ${DPOP_JTI_MAX_LENGTH} characters`);
  }
  // §4.3 (8): the method of this request, exactly.
  if (htm !== expected.method) throw new DpopProofError('invalid_dpop_proof', `the DPoP proof htm is not ${expected.method}`);
  // §4.3 (9): this request's URI without query and fragment, both normalized.
  const want = normalizedHtu(expected.uri);
  if (typeof htu !== 'string' || want === null || normalizedHtu(htu) !== want) {
    throw new DpopProofError('invalid_dpop_proof', `the DPoP proof htu is not ${want ?? expected.uri}`);
  }
  // §4.3 (11), §11.1: recent, so a proof cannot be kept and used later.
  const time = now();
  if (typeof iat !== 'number' || iat < time - DPOP_PROOF_MAX_AGE || iat > time + DPOP_PROOF_MAX_FUTURE) {
    throw new DpopProofError('invalid_dpop_proof', 'the DPoP proof iat is too old or in the future');
  }
  // §4.3 (12): at a resource, the proof names the very token it comes with.
  if (expected.accessToken !== undefined) {
    const hash = await accessTokenHashForProof(expected.accessToken);
    if (typeof ath !== 'string' || !timingSafeEqual(ath, hash)) {
      throw new DpopProofError('invalid_dpop_proof', 'the DPoP proof ath is not the hash of the access token');
    }
  }
  // §8, §9: a nonce the server issued; a proof that sends one must send a good one.
  if (nonce !== undefined || expected.requireNonce) {
    if (typeof nonce !== 'string' || !(await isCurrentNonce(deps, nonce))) {
      throw new DpopProofError('use_dpop_nonce', 'the DPoP proof must carry the nonce in the DPoP-Nonce header');
    }
  }
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  return { jkt, replayHash: await hashSecret(`${jkt} ${jti}`), expiresAt: iat + DPOP_PROOF_MAX_AGE };
}

/** What a proof that does not verify is told: what jose found, in words that name no key material. */
function proofFailure(proof: string, error: Error): string {
  if (proof.split('.').length !== 3) return 'it is not a compact JWS';
  if (error instanceof errors.JOSEAlgNotAllowed) return `alg must be one of ${DPOP_SIGNING_ALGS.join(', ')}`;
  if (error instanceof errors.JWTClaimValidationFailed) return error.message;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature is not by its jwk';
  return error.message;
}

// Server nonces (RFC 9449 §8, §9), stateless: a nonce is an HMAC-SHA256 over
// the issuer and a time slot of DPOP_NONCE_SLOT seconds, and the current and
// previous slots' nonces are accepted, so issuing and checking one reads
// nothing. Their key is derived with HKDF-SHA256 (RFC 5869) from a secret the
// server already has, under a label used for nothing else: KEY_ENCRYPTION_KEY,
// else SIGNING_KEY (one of the two is required off loopback, keys.ts). A
// loopback server with neither (local development, the tests) uses a random
// key of the isolate's own, which one local isolate shares with itself.

const NONCE_INFO = new TextEncoder().encode('Tollgate DPoP nonce, HMAC-SHA256, v1');
const nonceKeys = new Map<string, Promise<CryptoKey>>();
// Made on first use, not at module load: workerd refuses random values in the
// global scope, and `wrangler dev` (npm start, the browser tests) would not start.
let isolateSecret: Uint8Array<ArrayBuffer> | undefined;

function nonceKey(deps: Deps): Promise<CryptoKey> {
  const secret = deps.env.KEY_ENCRYPTION_KEY ?? deps.env.SIGNING_KEY ?? '';
  const cacheKey = `${deps.issuer} ${secret}`;
  let key = nonceKeys.get(cacheKey);
  if (!key) {
    key = (async () => {
      // Made on first use: workerd refuses random values in the global scope.
      if (!secret && !isolateSecret) isolateSecret = crypto.getRandomValues(new Uint8Array(32));
      const material = await crypto.subtle.importKey(
        'raw',
        secret ? new TextEncoder().encode(secret) : (isolateSecret as Uint8Array),
        'HKDF',
        false,
        ['deriveKey'],
      );
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode(deps.issuer), info: NONCE_INFO },
        material,
        { name: 'HMAC', hash: 'SHA-256', length: 256 },
        false,
        ['sign'],
      );
    })();
    nonceKeys.set(cacheKey, key);
  }
  return key;
}

async function nonceForSlot(deps: Deps, slot: number): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await nonceKey(deps), new TextEncoder().encode(`${deps.issuer} ${slot}`));
  return base64url(new Uint8Array(mac).slice(0, 16));
}

/** The nonce to send now in `DPoP-Nonce` (RFC 9449 §8.1): no storage, the same in every isolate with the same secret. */
export async function currentDpopNonce(deps: Deps): Promise<string> {
  return nonceForSlot(deps, Math.floor(now() / DPOP_NONCE_SLOT));
}

/** Whether `nonce` is this slot's or the previous slot's. */
async function isCurrentNonce(deps: Deps, nonce: string): Promise<boolean> {
  const slot = Math.floor(now() / DPOP_NONCE_SLOT);
  const [current, previous] = await Promise.all([nonceForSlot(deps, slot), nonceForSlot(deps, slot - 1)]);
  return timingSafeEqual(nonce, current) || timingSafeEqual(nonce, previous);
}

/**
 * Authenticates a token request's client and records its DPoP proof's single
 * use in one D1 batch (for a grant that writes nothing else:
 * client_credentials). A replayed proof fails the batch (storage/dpop-proofs.ts).
 */
export async function authenticateWithProof(deps: Deps, pending: PendingClient, proof: DpopProof): Promise<Client> {
  const { db } = deps;
  const { client } = await inClientBatch(pending, async () => {
    const [clientRows] = await db.batch([
      guardedClientQuery(db, pending.guard),
      recordProofOfClientStatement(db, proof, pending.guard),
      // RFC 7523 §3: a private_key_jwt assertion's single use, in the same batch.
      ...pending.writes(db),
    ]);
    return { clientRow: clientRows[0] };
  });
  return client;
}
