import { compactVerify, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import {
  ACCESS_TOKEN_TTL,
  ACR_MFA,
  ACR_PASSWORD,
  DEVICE_TOKEN_AUDIENCE,
  DEVICE_TOKEN_TTL,
  DEVICE_TOKEN_TYPE,
  ID_TOKEN_HINT_MAX_AGE,
  ID_TOKEN_TTL,
  SIGNING_ALG,
  USER_API_AUDIENCE,
  USER_API_TOKEN_TYPE,
  USER_TOKEN_TTL,
  VERIFIED_TOKEN_CACHE_SIZE,
} from '../config';
import type { Deps } from '../deps';

import { base64url, now, randomSecret, sha256 } from '../lib/crypto';
import type { LiveGrant } from '../storage/grants';
import { getKeySet, getVerificationKey, type KeySet } from './keys';
import { defaultResourceUri, knownResourceUris } from './resources';
import { isSupportedScope, isUserScope, splitScope } from './scopes';

/** The claims of a verified access token that Tollgate relies on (RFC 9068 §2.2, plus `gid`). */
export interface VerifiedAccessToken {
  sub: string;
  clientId: string;
  scope: string[];
  grantId: string;
  jti: string;
  iat: number;
  exp: number;
  /** RFC 9068 §2.2 `aud`, as a list: the resources (RFC 8707) the token may be used at. */
  audience: readonly string[];
  /** RFC 9449 §6.1 `cnf.jkt`: the thumbprint of the DPoP key the token is bound to; absent for a Bearer token. */
  jkt?: string;
}

/** A verified access token that still stands, with the user it acts for (null: the client itself). */
export interface StandingAccessToken extends VerifiedAccessToken {
  userId: string | null;
}

/** A verified, standing access token, as a bearer route sees it: the claims and the token itself. */
export interface AccessTokenInfo extends StandingAccessToken {
  token: string;
}

/** The audience of an access token that asked for no resource: the books API (services/resources.ts). */
export function resourceAudience(issuer: string): string {
  return defaultResourceUri(issuer);
}

export interface AccessTokenClaims {
  sub: string;
  clientId: string;
  scope: string[];
  grantId: string;
  authTime?: number;
  /** RFC 8707 §2.2: the resource(s) the token is for (services/resources.ts audienceClaim); the books API when absent. */
  audience?: string | string[];
  /** RFC 9449 §6.1: bind the token to this DPoP key thumbprint (`cnf.jkt`). */
  jkt?: string;
}

async function sign(deps: Deps, typ: string, payload: JWTPayload, ttl: number): Promise<string> {
  const { signing } = await getKeySet(deps);
  const iat = now();
  return new SignJWT(payload)
    .setProtectedHeader({ alg: SIGNING_ALG, typ, kid: signing.kid })
    .setIssuer(deps.issuer)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .sign(signing.key);
}

/**
 * An access token as a JWT profile of RFC 9068: `typ: at+jwt` (§2.1) and the
 * claims of §2.2. `gid` names the grant, so revoking the grant ends the token.
 */
export async function signAccessToken(deps: Deps, claims: AccessTokenClaims): Promise<string> {
  return sign(
    deps,
    'at+jwt',
    {
      sub: claims.sub,
      aud: claims.audience ?? resourceAudience(deps.issuer),
      client_id: claims.clientId,
      scope: claims.scope.join(' '),
      jti: randomSecret(16),
      gid: claims.grantId,
      ...(claims.authTime ? { auth_time: claims.authTime } : {}),
      // RFC 9449 §6.1: the confirmation of the key a DPoP-bound token must be presented with.
      ...(claims.jkt ? { cnf: { jkt: claims.jkt } } : {}),
    },
    ACCESS_TOKEN_TTL,
  );
}

/** OIDC Core §3.1.3.6: at_hash is the left half of SHA-256 of the access token, base64url. */
export async function accessTokenHash(accessToken: string): Promise<string> {
  return base64url((await sha256(accessToken)).slice(0, 16));
}

export interface IdTokenClaims {
  sub: string;
  clientId: string;
  authTime: number;
  /** How the user signed in (RFC 8176), from their session: the ID token's `amr`, and its `acr` (acrOf). */
  amr: string[];
  /** The authorization request's nonce; none on refresh (OIDC Core §12.2). */
  nonce: string | null;
  accessToken: string;
  /** Claims about the user by scope (OIDC Core §5.4); never overrides the registered claims above. */
  claims?: Record<string, unknown>;
}

// RFC 8176 §2 values by factor: something known or something one is, and something held.
const KNOWLEDGE_OR_INHERENCE = new Set(['pwd', 'pin', 'user', 'kba', 'fpt', 'face', 'iris', 'retina', 'vbm', 'geo']);
const POSSESSION = new Set(['otp', 'hwk', 'swk', 'sms', 'tel', 'sc']);

/**
 * The `acr` of a sign-in (OIDC Core §2), from its `amr`: `urn:tollgate:acr:mfa`
 * when it combined a factor held (otp, hwk, swk...) with one known or inherent
 * (pwd, pin, user...), or says `mfa` itself (RFC 8176 §2); else
 * `urn:tollgate:acr:pwd`. A passkey with user verification (`["hwk","user"]`)
 * is multi-factor by itself.
 */
export function acrOf(amr: readonly string[]): string {
  // `fed` (an upstream provider's sign-in) counts as the factor not held: with
  // a code after it (`["fed","otp"]`) the sign-in took two independent steps.
  const firstFactor = (value: string) => KNOWLEDGE_OR_INHERENCE.has(value) || value === 'fed';
  const multiFactor = amr.includes('mfa') || (amr.some((value) => POSSESSION.has(value)) && amr.some(firstFactor));
  return multiFactor ? ACR_MFA : ACR_PASSWORD;
}

/** An ID token (OIDC Core §2), signed ES256, for a client granted `openid`. */
export async function signIdToken(deps: Deps, claims: IdTokenClaims): Promise<string> {
  return sign(
    deps,
    'JWT',
    {
      ...claims.claims,
      sub: claims.sub,
      aud: claims.clientId,
      azp: claims.clientId,
      auth_time: claims.authTime,
      // OIDC Core §2: how the user authenticated (RFC 8176 values) and the class of it (README, "Two-factor sign-in").
      amr: claims.amr,
      acr: acrOf(claims.amr),
      at_hash: await accessTokenHash(claims.accessToken),
      ...(claims.nonce !== null ? { nonce: claims.nonce } : {}),
    },
    ID_TOKEN_TTL,
  );
}

/**
 * The user API token from `/api/login`: its own audience, so it is never an
 * access token. `jti` is a random secret whose hash the caller stores: the
 * token stands only while that row does (services/user-api-tokens.ts).
 */
export async function signUserToken(deps: Deps, userId: string, jti: string): Promise<string> {
  return sign(deps, USER_API_TOKEN_TYPE, { sub: userId, aud: USER_API_AUDIENCE, jti }, USER_TOKEN_TTL);
}

async function verify(deps: Deps, token: string, typ: string, audience: string | string[]): Promise<JWTPayload | null> {
  try {
    const { payload } = await jwtVerify(token, (header) => getVerificationKey(deps, header.kid).then(orThrow), {
      issuer: deps.issuer,
      audience,
      algorithms: [SIGNING_ALG],
      typ,
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    return payload;
  } catch (error) {
    // Any JOSE failure (bad signature, wrong typ/iss/aud, expired) means "not a valid token".
    if (error instanceof errors.JOSEError) return null;
    throw error;
  }
}

function orThrow(key: CryptoKey | null): CryptoKey {
  if (!key) throw new errors.JWKSNoMatchingKey();
  return key;
}

// A client sends the same access token with every call for the token's life,
// and checking its ES256 signature is the dearest CPU work of a bearer call.
// So an isolate remembers the tokens it has verified: an entry holds only
// while the key set that verified it is still the cached one (a reload,
// rotation or key change makes a new KeySet) and never past the token's
// `exp`. Only the JWT check is skipped: the grant and jti check in D1 still
// runs on every call, so revocation is as immediate as before. Keyed by the
// exact token string (and issuer), so only the very bytes verified can hit.
const verifiedTokens = new Map<string, { keys: KeySet; claims: VerifiedAccessToken }>();

function rememberVerified(key: string, keys: KeySet, claims: VerifiedAccessToken): void {
  if (verifiedTokens.size >= VERIFIED_TOKEN_CACHE_SIZE) {
    // Oldest first: a Map iterates in insertion order.
    verifiedTokens.delete(verifiedTokens.keys().next().value as string);
  }
  verifiedTokens.set(key, { keys, claims });
}

/** How many verified tokens this isolate remembers (for tests: the cache is bounded). */
export function verifiedTokenCount(): number {
  return verifiedTokens.size;
}

/**
 * Verifies an access token's JWT: signature, `typ` (RFC 9068 §4), `iss`,
 * `aud`, `exp`. Whether its grant still stands is the caller's second check.
 */
export async function verifyAccessToken(deps: Deps, token: string): Promise<VerifiedAccessToken | null> {
  const cacheKey = `${deps.issuer} ${token}`;
  const keys = await getKeySet(deps);
  const hit = verifiedTokens.get(cacheKey);
  if (hit) {
    if (hit.keys === keys && hit.claims.exp > now()) return hit.claims;
    verifiedTokens.delete(cacheKey);
  }
  // Any resource this issuer protects: which one a route is, is the route's check (helpers/bearer.ts).
  const payload = await verify(deps, token, 'at+jwt', knownResourceUris(deps.issuer));
  if (!payload || typeof payload.sub !== 'string') return null;
  const { client_id: clientId, scope, gid, jti, iat, exp, aud } = payload;
  if (typeof clientId !== 'string' || typeof scope !== 'string' || typeof gid !== 'string' || typeof jti !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number') return null;
  // RFC 9449 §6.1: a `cnf` names the key as `jkt`; any other shape is no token of ours.
  const { cnf } = payload as { cnf?: unknown };
  const jkt = cnf === undefined ? undefined : (cnf as { jkt?: unknown } | null)?.jkt;
  if (cnf !== undefined && typeof jkt !== 'string') return null;
  // Frozen: a remembered result is shared by every later call with the token.
  const claims: VerifiedAccessToken = Object.freeze({
    sub: payload.sub,
    clientId,
    scope: Object.freeze(scope.split(' ').filter(Boolean)) as string[],
    grantId: gid,
    jti,
    iat,
    exp,
    audience: Object.freeze(typeof aud === 'string' ? [aud] : [...(aud ?? [])]) as string[],
    ...(typeof jkt === 'string' ? { jkt } : {}),
  });
  // The key set now cached (a kid unknown to `keys` may have made verify reload it).
  rememberVerified(cacheKey, await getKeySet(deps), claims);
  return claims;
}

/**
 * Whether a verified access token stands on the grant D1 found for it (none:
 * revoked). Its signature only proves it was signed with one of our keys,
 * which a database leak of an unsealed key hands out; the grant row is the
 * second witness, so every claim Tollgate acts on must agree with it:
 * - `client_id` is the grant's client, and `sub` its user (a client's own
 *   client_credentials grant: the client itself, RFC 9068 §2.2);
 * - every scope is one the grant holds now (RFC 6749 §3.3: a token carries at
 *   most what was granted); for client_credentials, the client's registered
 *   scope (null: any supported scope), as the token endpoint allows.
 * A token that fails is answered as revoked (RFC 6750 §3.1 invalid_token,
 * introspection `active: false`), never insufficient_scope: the request is not
 * asking more than the token says, the token says more than its grant holds.
 */
export function tokenStandsOn<G extends LiveGrant>(token: VerifiedAccessToken, grant: G | undefined): grant is G {
  if (!grant || grant.clientId !== token.clientId) return false;
  if (grant.userId === null) {
    const registered = grant.clientScope === null ? null : splitScope(grant.clientScope);
    return (
      token.sub === grant.clientId &&
      // A client's own token never speaks for a user (client_credentials refuses those scopes at issue).
      token.scope.every((scope) => !isUserScope(scope) && (registered ? registered.includes(scope) : isSupportedScope(scope)))
    );
  }
  const held = splitScope(grant.scope);
  return token.sub === grant.userId && token.scope.every((scope) => held.includes(scope));
}

/**
 * Verifies a user API token's JWT; returns its user and `jti`, or null.
 * Whether it still stands (not signed out, not forged) is the caller's second
 * check (services/user-api-tokens.ts).
 */
export async function verifyUserToken(deps: Deps, token: string): Promise<{ userId: string; jti: string } | null> {
  const payload = await verify(deps, token, USER_API_TOKEN_TYPE, USER_API_AUDIENCE);
  if (typeof payload?.sub !== 'string' || typeof payload.jti !== 'string') return null;
  return { userId: payload.sub, jti: payload.jti };
}

/** What a verified device cookie says: the login that signed in from this browser, and the cookie's own id. */
export interface DeviceClaims {
  /** The account's login, as the sign-in service names it (a hash of the email, never the email). */
  login: string;
  jti: string;
}

/**
 * The device cookie's token (OWASP "device cookies"): signed with Tollgate's
 * own keys, so it cannot be forged and holds no secret at rest; its own `typ`
 * and audience (RFC 8725 §3.11, §3.9), so it never passes as another token.
 */
export async function signDeviceToken(deps: Deps, login: string): Promise<string> {
  return sign(deps, DEVICE_TOKEN_TYPE, { sub: login, aud: DEVICE_TOKEN_AUDIENCE, jti: randomSecret(16) }, DEVICE_TOKEN_TTL);
}

/** Verifies a device cookie's token; null for anything else, expired, or signed by a key no longer published. */
export async function verifyDeviceToken(deps: Deps, token: string): Promise<DeviceClaims | null> {
  const payload = await verify(deps, token, DEVICE_TOKEN_TYPE, DEVICE_TOKEN_AUDIENCE);
  if (typeof payload?.sub !== 'string' || typeof payload.jti !== 'string') return null;
  return { login: payload.sub, jti: payload.jti };
}

/** A verified `id_token_hint`: whose session the RP asks to end, and from which client. */
export interface IdTokenHint {
  sub: string;
  clientId: string;
  /**
   * Issued within ID_TOKEN_HINT_MAX_AGE. Only a recent hint may vouch for a
   * redirect to the client's post_logout_redirect_uri; an older one still
   * names the client, but belongs to no session that can still be open.
   */
  recent: boolean;
}

/**
 * Checks an `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2): signed by us,
 * for this issuer, and an ID token (not an access or user API token). An
 * expired hint is still accepted, as §2 asks, but only one issued within
 * ID_TOKEN_HINT_MAX_AGE is `recent`. Null for anything else.
 */
export async function verifyIdTokenHint(deps: Deps, token: string): Promise<IdTokenHint | null> {
  try {
    const { payload, protectedHeader } = await compactVerify(token, (header) => getVerificationKey(deps, header.kid).then(orThrow), {
      algorithms: [SIGNING_ALG],
    });
    if (protectedHeader.typ !== 'JWT') return null;
    const claims = JSON.parse(new TextDecoder().decode(payload)) as JWTPayload;
    const audience = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    if (claims.iss !== deps.issuer || typeof claims.sub !== 'string' || typeof audience !== 'string' || typeof claims.iat !== 'number') {
      return null;
    }
    // OIDC Core §2: only an ID token names its client as `azp`; a user API token
    // (also a JWT) has neither a client audience nor `azp`.
    if (audience === USER_API_AUDIENCE || claims.azp !== audience) return null;
    return { sub: claims.sub, clientId: audience, recent: now() - claims.iat <= ID_TOKEN_HINT_MAX_AGE };
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof SyntaxError) return null;
    throw error;
  }
}
