import { createLocalJWKSet, errors, importJWK, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import {
  CLIENT_ASSERTION_ALGS,
  CLIENT_ASSERTION_CLOCK_SKEW,
  CLIENT_ASSERTION_JTI_MAX_LENGTH,
  CLIENT_ASSERTION_MAX_LIFETIME,
  CLIENT_JWKS_FETCH_TIMEOUT,
  CLIENT_JWKS_MAX_BYTES,
  CLIENT_JWKS_MAX_KEYS,
  CLIENT_JWKS_REFETCH_MIN_INTERVAL,
  CLIENT_RSA_MIN_BITS,
  type ClientAssertionAlg,
} from '../config';
import type { Deps } from '../deps';
import { fromBase64url, hashSecret, now } from '../lib/crypto';
import { type GuardedFetchProblem, guardedFetchJson } from '../lib/guarded-fetch';
import { publicUrlProblem } from '../lib/public-urls';
import { insertClientAssertionStatement, isAssertionReplay } from '../storage/client-assertions';
import { saveJwksUriCache } from '../storage/clients';
import type { CachedJwks, Client } from '../storage/schema';
import { cacheLifetime } from './client-metadata-documents';

// `private_key_jwt` (RFC 7523 §2.2 and §3, OIDC Core §9): the client signs a
// short JWT with its private key; Tollgate holds only the public keys, from
// the client's registered `jwks` or fetched from its `jwks_uri`. Nothing the
// client sends is a shared secret, so nothing secret is stored for it.

/** Why a client's keys or assertion cannot be used; the message is safe to show (it names no key material). */
export class ClientAssertionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ClientAssertionError';
  }
}

/** The key type and curve each assertion algorithm needs (RFC 7518 §3.1, RFC 8037 §3.1). */
const KEY_OF_ALG: Record<ClientAssertionAlg, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

/** RFC 9864 §2: `Ed25519` is `EdDSA` on the only curve Tollgate takes, so each stands for the other. */
function sameScheme(alg: ClientAssertionAlg): ClientAssertionAlg[] {
  return alg === 'EdDSA' || alg === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [alg];
}

/** A key set for jose, whose key matching compares `alg` strictly: an Ed25519 key's alg is dropped, as both names fit it. */
function verificationSet(keys: JWK[]): JSONWebKeySet {
  return { keys: keys.map(({ alg, ...key }) => (alg === 'EdDSA' || alg === 'Ed25519' ? key : { ...key, ...(alg ? { alg } : {}) })) };
}

/** RFC 7517 §4 / RFC 7518 §6: the members only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

function isAssertionAlg(value: unknown): value is ClientAssertionAlg {
  return typeof value === 'string' && (CLIENT_ASSERTION_ALGS as readonly string[]).includes(value);
}

/** The bits of an RSA modulus (base64url, big-endian), leading zero bits not counted. */
function rsaModulusBits(n: string): number {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(n);
  } catch {
    return 0;
  }
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  if (start === bytes.length) return 0;
  return (bytes.length - start) * 8 - Math.clz32(bytes[start]!) + 24;
}

/**
 * Why one member of a client's JWK Set cannot verify its assertions, or null.
 * Only public signature keys of the assertion algorithms' types (RSA of at
 * least CLIENT_RSA_MIN_BITS, EC P-256, OKP Ed25519); a private or symmetric
 * key is refused outright: a client that sends its private key has leaked it.
 */
async function jwkProblem(key: unknown): Promise<string | null> {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'is not a JSON object';
  const jwk = key as Record<string, unknown>;
  const privateMember = PRIVATE_MEMBERS.find((member) => member in jwk);
  if (privateMember) return `holds the private member "${privateMember}": register public keys only (RFC 7517 §4)`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'has a use other than "sig"';
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > 256)) {
    return 'has a kid that is not a string of 1 to 256 characters';
  }
  const algs = CLIENT_ASSERTION_ALGS.filter((alg) => KEY_OF_ALG[alg].kty === jwk.kty && (KEY_OF_ALG[alg].crv ?? jwk.crv) === jwk.crv);
  if (algs.length === 0) return 'is not an RSA, EC P-256 or OKP Ed25519 key';
  if (jwk.alg !== undefined && !(isAssertionAlg(jwk.alg) && algs.includes(jwk.alg))) {
    return `has an alg that is not one of ${algs.join(', ')}`;
  }
  if (jwk.kty === 'RSA' && (typeof jwk.n !== 'string' || rsaModulusBits(jwk.n) < CLIENT_RSA_MIN_BITS)) {
    return `is an RSA key under ${CLIENT_RSA_MIN_BITS} bits (RFC 7518 §3.3)`;
  }
  try {
    const imported = await importJWK(jwk as JWK, (jwk.alg as string | undefined) ?? algs[0]);
    if (imported instanceof Uint8Array || imported.type !== 'public') return 'is not a public key';
  } catch {
    return 'is not a valid public key';
  }
  return null;
}

/**
 * A client's JWK Set as registered (RFC 7591 §2 `jwks`) or served at its
 * `jwks_uri`, checked: a `keys` array of 1 to CLIENT_JWKS_MAX_KEYS public
 * signature keys (jwkProblem), kids unique, at most CLIENT_JWKS_MAX_BYTES as
 * JSON. Members of a served set marked for another use (`use: "enc"`) are
 * left out, as a published set may carry them. Throws ClientAssertionError
 * naming the first problem.
 */
export async function checkJwks(value: unknown, what: string): Promise<JSONWebKeySet> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClientAssertionError(`${what} is not a JSON object`);
  if (JSON.stringify(value).length > CLIENT_JWKS_MAX_BYTES)
    throw new ClientAssertionError(`${what} is larger than ${CLIENT_JWKS_MAX_BYTES} bytes`);
  const keys = (value as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new ClientAssertionError(`${what} has no "keys" array (RFC 7517 §5)`);
  const signing = keys.filter((key) => !(typeof key === 'object' && key !== null && 'use' in key && key.use === 'enc' && !('d' in key)));
  if (signing.length === 0) throw new ClientAssertionError(`${what} holds no signing key`);
  if (signing.length > CLIENT_JWKS_MAX_KEYS) throw new ClientAssertionError(`${what} holds more than ${CLIENT_JWKS_MAX_KEYS} keys`);
  const kids = new Set<unknown>();
  for (const [index, key] of signing.entries()) {
    const problem = await jwkProblem(key);
    if (problem) throw new ClientAssertionError(`${what}: key ${index + 1} ${problem}`);
    const kid = (key as { kid?: unknown }).kid;
    if (kid !== undefined && kids.has(kid)) throw new ClientAssertionError(`${what}: two keys share the kid ${String(kid).slice(0, 64)}`);
    kids.add(kid);
  }
  return { keys: signing as JWK[] };
}

/** Whether a (checked) key can verify signatures of `alg`: its type and curve fit, and its own alg, if any, is that one. */
export function keyFitsAlg(key: JWK, alg: ClientAssertionAlg): boolean {
  const { kty, crv } = KEY_OF_ALG[alg];
  return (
    key.kty === kty &&
    (crv === undefined || key.crv === crv) &&
    (key.alg === undefined || sameScheme(alg).includes(key.alg as ClientAssertionAlg))
  );
}

/**
 * Why `uri` cannot be a client's `jwks_uri`, or null: Tollgate fetches it on
 * the client's word, so the client ID metadata documents' SSRF rules apply
 * (lib/public-urls.ts: https on 443, no credentials, no private or
 * special-use host), and no fragment (RFC 3986 §3.5 means nothing to a fetch).
 */
export function jwksUriProblem(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not a URL';
  }
  if (uri.includes('#')) return 'must not contain a fragment';
  return publicUrlProblem(url);
}

/** A checked client assertion: what its single-use row needs. */
export interface VerifiedAssertion {
  jti: string;
  /** After this the assertion fails its `exp` check anyway, so its row may go: `exp` plus the skew. */
  expiresAt: number;
}

/**
 * Verifies a client assertion (RFC 7523 §3) for `client`, registered for
 * private_key_jwt:
 * - signed with one of the client's keys, by an algorithm of
 *   CLIENT_ASSERTION_ALGS (or the client's `token_endpoint_auth_signing_alg`):
 *   `none` and HS* never verify, so a "signature" made with the public key
 *   as an HMAC secret proves nothing;
 * - `iss` and `sub` the client's id (§3 items 1 and 2);
 * - `aud` one value, one of `audiences`: the issuer identifier, the token
 *   endpoint, or the endpoint called (§3 item 3; draft-ietf-oauth-rfc7523bis
 *   asks for the issuer, older clients send an endpoint URL). An assertion
 *   naming several audiences could be replayed by any of them, so it is refused;
 * - `exp` present and at most CLIENT_ASSERTION_MAX_LIFETIME after `iat`
 *   and now, `nbf` and `iat` not in the future, each with
 *   CLIENT_ASSERTION_CLOCK_SKEW (§3 items 4 to 6);
 * - a `jti` (§3 item 7), which the caller spends once in D1
 *   (storage/client-assertions.ts).
 * Keys from `jwks_uri` come from the client's cached copy while fresh, else
 * are fetched (and stored: one D1 write); an unknown `kid` fetches them again
 * at most every CLIENT_JWKS_REFETCH_MIN_INTERVAL (the client rotated its keys).
 * Throws ClientAssertionError.
 */
export async function verifyClientAssertion(
  deps: Deps,
  client: Client,
  assertion: string,
  audiences: readonly string[],
): Promise<VerifiedAssertion> {
  const algorithms = client.tokenEndpointAuthSigningAlg ? sameScheme(client.tokenEndpointAuthSigningAlg) : [...CLIENT_ASSERTION_ALGS];
  const options = {
    algorithms,
    issuer: client.id,
    subject: client.id,
    clockTolerance: CLIENT_ASSERTION_CLOCK_SKEW,
    requiredClaims: ['exp', 'jti', 'aud'],
  };
  let payload: JWTPayload;
  if (client.jwks) {
    payload = await verifyWith(assertion, createLocalJWKSet(verificationSet(client.jwks.keys)), options);
  } else if (client.jwksUri) {
    const at = now();
    let cache = client.jwksUriCache;
    if (!cache || cache.expiresAt <= at) cache = await refreshJwksUri(deps, client);
    try {
      payload = await verifyWith(assertion, createLocalJWKSet(verificationSet(cache.keys)), options);
    } catch (error) {
      // A key the copy lacks: the client may have rotated since the fetch. Fetch again, within the rate.
      const unknownKey = error instanceof ClientAssertionError && error.cause instanceof errors.JWKSNoMatchingKey;
      if (!unknownKey || at - cache.fetchedAt < CLIENT_JWKS_REFETCH_MIN_INTERVAL) throw error;
      cache = await refreshJwksUri(deps, client);
      payload = await verifyWith(assertion, createLocalJWKSet(verificationSet(cache.keys)), options);
    }
  } else {
    throw new ClientAssertionError('the client has no registered keys');
  }
  return checkClaims(payload, audiences);
}

type VerifyOptions = Parameters<typeof jwtVerify>[2];

/** jwtVerify over a key set, trying each candidate when several keys match (no kid), with jose's errors said plainly. */
async function verifyWith(assertion: string, keys: JWTVerifyGetKey, options: VerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(assertion, keys, options)).payload;
  } catch (error) {
    if (error instanceof errors.JWKSMultipleMatchingKeys) {
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(assertion, key, options)).payload;
        } catch {
          // The next candidate.
        }
      }
      throw new ClientAssertionError("the client assertion's signature does not verify with any of the client's keys");
    }
    throw new ClientAssertionError(describeJoseError(error), { cause: error });
  }
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the client assertion has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `the client assertion's ${error.claim} claim is not valid: ${error.reason}`;
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return `the client assertion must be signed with ${CLIENT_ASSERTION_ALGS.join(', ')} (or the client's token_endpoint_auth_signing_alg)`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the client's matches the client assertion's kid and alg";
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return "the client assertion's signature does not verify with the client's keys";
  return 'the client assertion is not a valid signed JWT';
}

/** RFC 7523 §3 checks jose leaves to the caller: one audience, a short life, a bounded `jti`. */
function checkClaims(payload: JWTPayload, audiences: readonly string[]): VerifiedAssertion {
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
  if (typeof aud !== 'string' || !audiences.includes(aud)) {
    throw new ClientAssertionError(
      `the client assertion's aud must be one value, the issuer identifier (${audiences[0]}) or this endpoint's URL`,
    );
  }
  const at = now();
  const exp = payload.exp!;
  if (exp - at > CLIENT_ASSERTION_MAX_LIFETIME + CLIENT_ASSERTION_CLOCK_SKEW) {
    throw new ClientAssertionError(`the client assertion's exp is more than ${CLIENT_ASSERTION_MAX_LIFETIME} seconds away`);
  }
  if (payload.iat !== undefined) {
    if (payload.iat > at + CLIENT_ASSERTION_CLOCK_SKEW) throw new ClientAssertionError("the client assertion's iat is in the future");
    if (exp - payload.iat > CLIENT_ASSERTION_MAX_LIFETIME) {
      throw new ClientAssertionError(`the client assertion lives longer than ${CLIENT_ASSERTION_MAX_LIFETIME} seconds (exp - iat)`);
    }
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > CLIENT_ASSERTION_JTI_MAX_LENGTH) {
    throw new ClientAssertionError(`the client assertion's jti must be a string of 1 to ${CLIENT_ASSERTION_JTI_MAX_LENGTH} characters`);
  }
  return { jti, expiresAt: exp + CLIENT_ASSERTION_CLOCK_SKEW };
}

/**
 * The row that spends a verified assertion's `jti` (RFC 7523 §3 item 7),
 * keyed by the SHA-256 of the client id and the jti: a jti need only be
 * unique per client, and hashing bounds the key whatever the client sent.
 */
export interface ClientAssertionRow {
  jtiHash: string;
  clientId: string;
  expiresAt: number;
}

export async function clientAssertionRow(clientId: string, verified: VerifiedAssertion): Promise<ClientAssertionRow> {
  return { jtiHash: await hashSecret(JSON.stringify([clientId, verified.jti])), clientId, expiresAt: verified.expiresAt };
}

/**
 * Spends a verified assertion on its own (one D1 write at the primary): the
 * revocation, introspection, PAR and device authorization endpoints, which
 * have no batch to put it in. Throws ClientAssertionError for a replay.
 */
export async function spendClientAssertion(deps: Deps, clientId: string, verified: VerifiedAssertion): Promise<void> {
  try {
    await insertClientAssertionStatement(deps.db, await clientAssertionRow(clientId, verified));
  } catch (error) {
    if (isAssertionReplay(error)) throw assertionReplayed();
    throw error;
  }
}

/** RFC 7523 §3 item 7: the same assertion presented again. */
export function assertionReplayed(): ClientAssertionError {
  return new ClientAssertionError('this client assertion was used before: its jti is accepted once (RFC 7523 §3)');
}

/**
 * Fetches the client's `jwks_uri`, checks the set (checkJwks) and keeps it on
 * the client's row (one D1 write, only while the row still names that URI)
 * for as long as its Cache-Control says, clamped like a client ID metadata
 * document's (cacheLifetime). Throws ClientAssertionError when the keys
 * cannot be had: the assertion then fails, never falls back to a stale copy
 * (the client may have dropped a key because it leaked).
 */
async function refreshJwksUri(deps: Deps, client: Client): Promise<CachedJwks> {
  const uri = client.jwksUri!;
  const problem = jwksUriProblem(uri);
  if (problem) throw new ClientAssertionError(`the client's jwks_uri ${problem}`);
  const { body, maxAge } = await fetchJwks(uri);
  const set = await checkJwks(body, "the client's jwks_uri document");
  const at = now();
  const cache: CachedJwks = { keys: set.keys, fetchedAt: at, expiresAt: at + maxAge };
  await saveJwksUriCache(deps.db, client.id, uri, cache);
  return cache;
}

/**
 * GETs a JWK Set under the guarded fetch's network-safety rules, as client ID
 * metadata documents are (lib/guarded-fetch.ts, SECURITY.md): no redirect
 * followed, done within CLIENT_JWKS_FETCH_TIMEOUT, 200 JSON
 * (`application/json` or `application/jwk-set+json`, RFC 7517 §8.5.1),
 * dropped past CLIENT_JWKS_MAX_BYTES.
 */
async function fetchJwks(uri: string): Promise<{ body: unknown; maxAge: number }> {
  const { body, headers } = await guardedFetchJson(uri, {
    accept: 'application/jwk-set+json, application/json',
    acceptsType: (type) => type === 'application/json' || type === 'application/jwk-set+json',
    timeout: CLIENT_JWKS_FETCH_TIMEOUT,
    maxBytes: CLIENT_JWKS_MAX_BYTES,
    refuse: (problem) => new ClientAssertionError(jwksProblem(problem)),
  });
  return { body, maxAge: cacheLifetime(headers) };
}

/** A guarded fetch's problem, said of the client's jwks_uri. */
function jwksProblem(problem: GuardedFetchProblem): string {
  switch (problem.kind) {
    case 'not-public':
      return `the client's jwks_uri ${problem.problem}`;
    case 'unreachable':
      return "the client's jwks_uri could not be fetched";
    case 'timeout':
      return `the client's jwks_uri did not answer within ${CLIENT_JWKS_FETCH_TIMEOUT} seconds`;
    case 'redirect':
      return "the client's jwks_uri answered with a redirect, which is not followed";
    case 'status':
      return `the client's jwks_uri answered HTTP ${problem.status}`;
    case 'content-type':
      return "the client's jwks_uri is not JSON (application/json or application/jwk-set+json)";
    case 'too-large':
      return `the client's jwks_uri document is larger than ${CLIENT_JWKS_MAX_BYTES} bytes`;
    case 'not-utf8':
    case 'not-json':
      return "the client's jwks_uri document is not UTF-8 JSON";
  }
}
