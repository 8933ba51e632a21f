// The parts of DPoP (RFC 9449) that take Hono's context: reading the proof
// from the request, the URI it must name, and the answers to a refused proof
// (a 400 at the token endpoint, a 401 challenge at a resource).
import type { Context } from 'hono';
import { DPOP_NONCE_REQUIRED_AT_TOKEN_ENDPOINT, DPOP_PROOF_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { DpopProofError, singleProof } from '../lib/dpop';
import { currentDpopNonce, type DpopProof, verifyDpopProof } from '../services/dpop';

/** The request's one DPoP proof, or null (RFC 9449 §4.1); more than one is refused (§4.3 (1)). */
export function dpopHeader(c: Context<AppEnv>): string | null {
  return singleProof(c.req.raw.headers.get('DPoP'), DPOP_PROOF_MAX_LENGTH);
}

/**
 * The URI a proof must name (RFC 9449 §4.3 (9) `htu`): the issuer and the
 * request's path, never the Host header a proxy or client could set.
 */
export function requestUri(c: Context<AppEnv>): string {
  return `${c.var.deps.issuer}${c.req.path}`;
}

/**
 * The token request's DPoP proof (RFC 9449 §5), checked, or null when it
 * sent none. The server's nonce is required (§8) unless
 * DPOP_NONCE_REQUIRED_AT_TOKEN_ENDPOINT is off. A bad proof is 400
 * invalid_dpop_proof, a missing or old nonce 400 use_dpop_nonce, each with a
 * fresh `DPoP-Nonce` (§8.1). Reads nothing: single use is the grant's batch.
 */
export async function tokenEndpointProof(c: Context<AppEnv>): Promise<DpopProof | null> {
  try {
    const proof = dpopHeader(c);
    if (proof === null) return null;
    return await verifyDpopProof(c.var.deps, proof, {
      method: c.req.method,
      uri: requestUri(c),
      requireNonce: DPOP_NONCE_REQUIRED_AT_TOKEN_ENDPOINT,
    });
  } catch (error) {
    if (error instanceof DpopProofError) {
      throw new OAuthError(error.code, { description: error.message, headers: await nonceHeader(c) });
    }
    throw error;
  }
}

/** `DPoP-Nonce` with the current nonce (RFC 9449 §8.1): on every token-endpoint answer to a DPoP request. */
export async function nonceHeader(c: Context<AppEnv>): Promise<Record<string, string>> {
  return { 'DPoP-Nonce': await currentDpopNonce(c.var.deps) };
}

/** RFC 9449 §11.1: the token request's proof was presented before (its batch failed on the proof's row). */
export async function replayedProof(c: Context<AppEnv>): Promise<OAuthError> {
  return new OAuthError('invalid_dpop_proof', { description: 'the DPoP proof was already used (its jti)', headers: await nonceHeader(c) });
}
