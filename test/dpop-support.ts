// DPoP (RFC 9449) as a client does it, for the tests: a key pair, proofs for
// a request, and the server nonce the token endpoint asks for.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { expect } from 'vitest';
import { call, form, ISSUER, type RegisteredClient, unique } from './helpers';

/** A client's DPoP key: the private key it signs with, its public JWK and thumbprint (RFC 7638). */
export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

export interface ProofOptions {
  htm?: string;
  /** A path on the issuer, or an absolute URI. */
  htu?: string;
  accessToken?: string;
  nonce?: string;
  iat?: number;
  jti?: string;
  typ?: string;
  /** Claims to set or (undefined) leave out. */
  claims?: Record<string, unknown>;
  /** The header's jwk instead of the key's public one. */
  jwk?: JWK;
}

/** A DPoP proof (RFC 9449 §4.2) for `htm` `htu`, signed by `key`. */
export async function proof(key: DpopKey, options: ProofOptions = {}): Promise<string> {
  const htu = options.htu ?? '/oauth2/token';
  const payload: Record<string, unknown> = {
    htm: options.htm ?? 'POST',
    htu: htu.startsWith('/') ? `${ISSUER}${htu}` : htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? unique('jti'),
    ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
    ...(options.accessToken !== undefined ? { ath: await ath(options.accessToken) } : {}),
    ...options.claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: options.typ ?? 'dpop+jwt', jwk: options.jwk ?? key.jwk })
    .sign(key.privateKey);
}

/** RFC 9449 §4.2 `ath`. */
export async function ath(accessToken: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
  return btoa(String.fromCharCode(...digest))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** The server's current DPoP nonce, as a client learns it: from a use_dpop_nonce answer (RFC 9449 §8). */
export async function serverNonce(): Promise<string> {
  const response = await form('/oauth2/token', { grant_type: 'client_credentials' }, { DPoP: await proof(await dpopKey()) });
  expect(response.status).toBe(400);
  expect(((await response.json()) as { error: string }).error).toBe('use_dpop_nonce');
  const nonce = response.headers.get('DPoP-Nonce');
  expect(nonce).toBeTruthy();
  return nonce!;
}

/** A token request as `client` with a fresh proof by `key` carrying the server's nonce. */
export async function dpopTokenRequest(
  client: RegisteredClient,
  key: DpopKey | null,
  fields: Record<string, string>,
  proofOptions: ProofOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (key) headers.DPoP = await proof(key, { nonce: await serverNonce(), ...proofOptions });
  if (client.client_secret) {
    headers.Authorization = `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`)}`;
    return form('/oauth2/token', fields, headers);
  }
  return form('/oauth2/token', { client_id: client.client_id, ...fields }, headers);
}

/** A call to a resource with a DPoP-bound token and a fresh proof for it. */
export async function dpopCall(
  path: string,
  token: string,
  key: DpopKey,
  init: RequestInit = {},
  proofOptions: ProofOptions = {},
): Promise<Response> {
  const method = init.method ?? 'GET';
  const dpop = await proof(key, { htm: method, htu: path.split('?')[0], accessToken: token, ...proofOptions });
  return call(path, {
    ...init,
    method,
    headers: { ...(init.headers as Record<string, string>), Authorization: `DPoP ${token}`, DPoP: dpop },
  });
}
