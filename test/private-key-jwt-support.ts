import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { form, ISSUER, json, type RegisteredClient, registerClient, unique } from './helpers';

// private_key_jwt (RFC 7523 §2.2) for tests: a client key pair, its public
// JWK Set for registration, and assertions signed as a client would sign them.

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientKey {
  alg: 'RS256' | 'PS256' | 'ES256' | 'EdDSA' | 'Ed25519';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A fresh key pair, its public half as a JWK with a kid (and alg). */
export async function clientKey(alg: ClientKey['alg'] = 'ES256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = unique('kid');
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Registers a private_key_jwt client with these keys by value (`jwks`), or by `jwks_uri` when given. */
export async function registerKeyClient(
  token: string,
  keys: ClientKey[],
  metadata: Record<string, unknown> = {},
): Promise<RegisteredClient> {
  return registerClient(token, {
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    ...(metadata.jwks_uri === undefined ? { jwks: { keys: keys.map((key) => key.publicJwk) } } : {}),
    ...metadata,
  });
}

/**
 * A client assertion (RFC 7523 §3): iss = sub = the client, aud the issuer,
 * 60 seconds, a fresh jti; `claims` overrides any of them (undefined drops one).
 */
export async function assertion(
  key: ClientKey,
  clientId: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: clientId,
    sub: clientId,
    aud: ISSUER,
    iat: now,
    exp: now + 60,
    jti: unique('jti'),
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

/** A form POST authenticated with a client assertion. */
export function postWithAssertion(path: string, clientAssertion: string, fields: Record<string, string>): Promise<Response> {
  return form(path, { client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion, ...fields });
}

/** How the stand-in serves a published set when a test plays a hostile host (test/stand-ins/turnstile-siteverify.js). */
export type JwksServing = 'redirect' | 'oversize' | 'oversize-stream' | 'slow' | 'slow-body' | 'html';

/**
 * Publishes a JWK Set at https://client.example/jwks/<name> on the stand-in
 * (test/stand-ins/turnstile-siteverify.js), served as `serve` says when given;
 * returns its URL.
 */
export async function publishJwks(
  keys: ClientKey[],
  name = unique('set'),
  headers: Record<string, string> = {},
  serve?: JwksServing,
): Promise<string> {
  const url = `https://client.example/jwks/${name}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jwks: { keys: keys.map((key) => key.publicJwk) }, headers, serve }),
  });
  if (response.status !== 204) throw new Error(`the stand-in did not take the JWK Set: ${response.status}`);
  return url;
}

/** How many times the stand-in served `url` so far. */
export async function fetchesOf(url: string): Promise<number> {
  const log = (await (await fetch('https://client.example/__log')).json()) as string[];
  return log.filter((entry) => entry === url).length;
}

export { json };
