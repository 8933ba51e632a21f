// The parts of an RFC 6750 bearer check that take Hono's context: reading the
// token, the challenges, and the verdicts shared by the middleware that
// guards a route (middleware/bearer-auth.ts) and the handler that owns a
// read's batch (helpers/bearer-read.ts).
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { type ErrorCode, OAuthError } from '../errors';
import { DpopProofError } from '../lib/dpop';
import { currentDpopNonce, DPOP_ALGORITHMS, type DpopProof, verifyDpopProof } from '../services/dpop';
import { type ProtectedResource, resourceMetadataUrl, resourceUri } from '../services/resources';
import { type StandingAccessToken, tokenStandsOn, type VerifiedAccessToken, verifyAccessToken } from '../services/tokens';
import { clientOriginQuery } from '../storage/clients';
import type { Db } from '../storage/db';
import { recordProofStatement } from '../storage/dpop-proofs';
import { liveGrantQuery } from '../storage/grants';
import { dpopHeader, requestUri } from './dpop';

const REALM = 'tollgate';

/** What a bearer route asks of the access token. */
export interface AccessTokenOptions {
  /**
   * The scope the route needs (RFC 6750 §3.1 insufficient_scope otherwise).
   * None: the route checks scope itself, per operation (the MCP server's tools).
   */
  scope?: string;
  /** The route acts for a user: a client_credentials token (no user) is refused. */
  user?: boolean;
  /**
   * The protected resource the route belongs to (RFC 8707): a token whose
   * `aud` does not name it is invalid_token here, and every challenge points
   * at its metadata (RFC 9728 §5.1). None: one of the authorization server's
   * own endpoints (userinfo), which takes any of its access tokens.
   */
  resource?: ProtectedResource;
}

/**
 * Whom a route's challenges address: for a route behind an access token, the
 * scheme the request used (RFC 9449 §7.1: DPoP or Bearer) and the metadata
 * URL of its resource (RFC 9728 §5.1 `resource_metadata`; undefined for the
 * authorization server's own endpoints); for a route behind another token
 * (user API, registration access), that route's metadata URL or undefined,
 * and Bearer only.
 */
export type MetadataPointer = string | undefined | AccessTokenRoute;

/** The challenges of a route that takes access tokens, both Bearer and DPoP-bound ones. */
export interface AccessTokenRoute {
  resourceMetadata: string | undefined;
  /** The scheme the request's Authorization header used; Bearer when it sent none. */
  scheme: 'Bearer' | 'DPoP';
}

/** The challenges of an access-token route (RFC 9728 §5.1, RFC 9449 §7.1), from its options and the request. */
export function metadataPointer(c: Context<AppEnv>, options: Pick<AccessTokenOptions, 'resource'>): AccessTokenRoute {
  return {
    resourceMetadata: options.resource ? resourceMetadataUrl(c.var.deps.issuer, options.resource) : undefined,
    scheme: /^DPoP /i.test(c.req.header('Authorization') ?? '') ? 'DPoP' : 'Bearer',
  };
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; null when absent. */
export function bearerToken(c: Context, metadata?: MetadataPointer): string | null {
  const header = c.req.header('Authorization');
  if (!header) return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) throw invalidToken('the Authorization header is not a Bearer token', metadata);
  return match[1];
}

/** RFC 6750 §2.1 and RFC 9449 §7.1: `Authorization: Bearer <token>` or `DPoP <token>`; null when absent. */
function accessTokenOf(c: Context, route: AccessTokenRoute): { scheme: 'Bearer' | 'DPoP'; token: string } | null {
  const header = c.req.header('Authorization');
  if (!header) return null;
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1] || !match[2]) throw invalidToken('the Authorization header is neither a Bearer nor a DPoP token', route);
  return { scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2] };
}

/** The parts of a challenge (RFC 6750 §3, RFC 9728 §5.1). */
interface ChallengeFields {
  error?: string;
  description?: string;
  scope?: string;
  resourceMetadata?: MetadataPointer;
}

/** RFC 6750 §3: the error in WWW-Authenticate as well as in the body. */
function challengeOf(scheme: 'Bearer' | 'DPoP', { error, description, scope, resourceMetadata }: ChallengeFields = {}): string {
  const parts = [`realm="${REALM}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  // RFC 9449 §7.1: the algorithms a proof may use.
  if (scheme === 'DPoP') parts.push(`algs="${DPOP_ALGORITHMS.join(' ')}"`);
  // RFC 9728 §5.1: where the client finds which authorization server to ask, and for what.
  if (resourceMetadata) parts.push(`resource_metadata="${resourceMetadata}"`);
  return `${scheme} ${parts.join(', ')}`;
}

/**
 * The WWW-Authenticate of a 401 or 403 for `pointer`'s route. A route that
 * takes access tokens offers both schemes (RFC 9449 §7.1): the error goes in
 * the challenge of the scheme the request used, and the other scheme is named
 * bare; any other route answers Bearer only.
 */
function challenge(fields: Omit<ChallengeFields, 'resourceMetadata'>, pointer: MetadataPointer): string {
  if (typeof pointer !== 'object') return challengeOf('Bearer', { ...fields, resourceMetadata: pointer });
  const used = challengeOf(pointer.scheme, { ...fields, resourceMetadata: pointer.resourceMetadata });
  const other = challengeOf(pointer.scheme === 'DPoP' ? 'Bearer' : 'DPoP');
  return `${used}, ${other}`;
}

export function invalidToken(description: string, metadata?: MetadataPointer): OAuthError {
  return new OAuthError('invalid_token', {
    status: 401,
    description,
    headers: { 'WWW-Authenticate': challenge({ error: 'invalid_token', description }, metadata) },
  });
}

export function missingToken(metadata?: MetadataPointer): OAuthError {
  // RFC 6750 §3.1: no error code when the request carried no authentication.
  return new OAuthError('invalid_token', {
    status: 401,
    description: 'an access token is required',
    headers: { 'WWW-Authenticate': challenge({}, metadata) },
  });
}

/**
 * RFC 9449 §7.1: a DPoP proof refused at a resource is 401 with the error in
 * the DPoP challenge (invalid_dpop_proof, or use_dpop_nonce with a fresh
 * `DPoP-Nonce`, §9). Every refusal offers a nonce, so a client may add one.
 */
async function dpopRefusal(c: Context<AppEnv>, code: ErrorCode, description: string, route: AccessTokenRoute): Promise<OAuthError> {
  return new OAuthError(code, {
    status: 401,
    description,
    headers: {
      'WWW-Authenticate': challenge({ error: code, description }, { ...route, scheme: 'DPoP' }),
      'DPoP-Nonce': await currentDpopNonce(c.var.deps),
    },
  });
}

/** RFC 9449 §11.1: the proof's row was already there: it was presented before. */
export function replayedProofAtResource(c: Context<AppEnv>, route: AccessTokenRoute): Promise<OAuthError> {
  return dpopRefusal(c, 'invalid_dpop_proof', 'the DPoP proof was already used (its jti)', route);
}

/** RFC 6750 §3.1 invalid_token (401): the token was revoked, expired or never valid. */
export function tokenNoLongerStands(metadata?: MetadataPointer): OAuthError {
  return invalidToken('the access token is invalid, expired or revoked', metadata);
}

/**
 * The user a verified token acts for (null: a client_credentials token, the
 * client itself) when it stands on its grant (`tokenStandsOn`: the grant is
 * live, its jti not revoked, its claims within the grant); throws
 * invalid_token otherwise. One D1 round trip.
 */
export async function standingUser(c: Context<AppEnv>, verified: VerifiedAccessToken, metadata?: MetadataPointer): Promise<string | null> {
  const { db } = c.var.deps;
  const grantCheck = liveGrantQuery(db, verified.grantId, verified.jti);
  const originCheck = callerOriginQuery(c, db, verified);
  // A cross-origin call asks about its Origin in the same round trip; any other is the one query.
  const [grants, ...origin] = originCheck.length > 0 ? await db.batch([grantCheck, ...originCheck]) : [await grantCheck];
  noteCallerOrigin(c, origin[0]);
  const grant = grants[0];
  if (!tokenStandsOn(verified, grant)) throw tokenNoLongerStands(metadata);
  return grant.userId;
}

/**
 * For a cross-origin call (middleware/cors.ts set `corsOrigin`): the read of
 * whether its Origin is one of the token's client's web origins, to run in
 * the grant check's batch, so CORS costs no round trip of its own. Nothing
 * for a call without an Origin.
 */
export function callerOriginQuery(c: Context<AppEnv>, db: Db, verified: VerifiedAccessToken) {
  const origin = c.get('corsOrigin');
  return origin === undefined ? [] : [clientOriginQuery(db, origin, verified.clientId)];
}

/** Keeps the batch's answer to `callerOriginQuery` for the CORS middleware. */
export function noteCallerOrigin(c: Context<AppEnv>, rows: readonly unknown[] | undefined): void {
  if (rows !== undefined) c.set('originOfCaller', rows.length > 0);
}

/**
 * `standingUser` for a DPoP-bound token: the grant check and the proof's
 * single use (storage/dpop-proofs.ts) in one batch, one round trip, at the
 * primary since it writes. Throws invalid_token when the token no longer
 * stands, invalid_dpop_proof when the proof was presented before.
 */
export async function standingUserWithProof(
  c: Context<AppEnv>,
  verified: VerifiedAccessToken,
  proof: DpopProof,
  route: AccessTokenRoute,
): Promise<string | null> {
  const { db } = c.var.deps;
  const [recorded, grants, ...origin] = await db.batch([
    recordProofStatement(db, proof),
    liveGrantQuery(db, verified.grantId, verified.jti),
    ...callerOriginQuery(c, db, verified),
  ]);
  noteCallerOrigin(c, origin[0]);
  const grant = grants[0];
  if (!tokenStandsOn(verified, grant)) throw tokenNoLongerStands(route);
  if (!recorded[0]) throw await replayedProofAtResource(c, route);
  return grant.userId;
}

/**
 * The request's access token (RFC 6750 §2.1), verified as an RFC 9068 JWT:
 * signature, audience and expiry only. Whether its grant still stands is D1's
 * answer, which the caller asks (alone or in its own batch). Throws
 * invalid_token (401) when the token is absent or does not verify, or when
 * the route belongs to a resource the token's `aud` does not name (RFC 8707
 * §1, RFC 9068 §4: a token for one resource is refused by every other), with
 * no D1 read.
 */
export async function verifiedBearer(
  c: Context<AppEnv>,
  options: Pick<AccessTokenOptions, 'resource'> = {},
): Promise<{ token: string; verified: VerifiedAccessToken; proof: DpopProof | null }> {
  const route = metadataPointer(c, options);
  const presented = accessTokenOf(c, route);
  if (!presented) throw missingToken(route);
  const { token } = presented;
  const verified = await verifyAccessToken(c.var.deps, token);
  if (!verified) throw tokenNoLongerStands(route);
  if (options.resource && !verified.audience.includes(resourceUri(c.var.deps.issuer, options.resource))) {
    throw invalidToken('the access token is for another resource (its aud)', route);
  }
  if (presented.scheme === 'Bearer') {
    // RFC 9449 §7.1: a DPoP-bound token is worth nothing without its key; as a Bearer token it is refused.
    if (verified.jkt) throw invalidToken('the access token is DPoP-bound: send it as Authorization: DPoP with a proof', route);
    return { token, verified, proof: null };
  }
  if (!verified.jkt) throw invalidToken('the access token is not DPoP-bound: send it as Authorization: Bearer', route);
  const proof = await resourceProof(c, token, route);
  // RFC 9449 §7.1: the proof must be by the very key the token names in cnf.jkt.
  if (proof.jkt !== verified.jkt) {
    throw await dpopRefusal(c, 'invalid_dpop_proof', 'the DPoP proof is not signed by the key the access token is bound to', route);
  }
  return { token, verified, proof };
}

/**
 * The proof with a DPoP-bound token at a resource (RFC 9449 §7.1), checked
 * for this method, URI and token (`ath`); a nonce only if the proof sends one
 * (it must then be current). Single use is the caller's batch.
 */
async function resourceProof(c: Context<AppEnv>, token: string, route: AccessTokenRoute): Promise<DpopProof> {
  try {
    const proof = dpopHeader(c);
    if (proof === null) throw new DpopProofError('invalid_dpop_proof', 'a DPoP-bound token needs a DPoP proof header');
    return await verifyDpopProof(c.var.deps, proof, { method: c.req.method, uri: requestUri(c), accessToken: token, requireNonce: false });
  } catch (error) {
    if (error instanceof DpopProofError) throw await dpopRefusal(c, error.code, error.message, route);
    throw error;
  }
}

/**
 * RFC 6750 §3.1 insufficient_scope (403) for a token the route may not use, or
 * null when it may. Only for a token known to stand: a token that no longer
 * stands is answered 401 first, whatever it lacks.
 */
export function accessRefusal(claims: StandingAccessToken, options: AccessTokenOptions, metadata?: MetadataPointer): OAuthError | null {
  const { scope } = options;
  if (scope && !claims.scope.includes(scope)) {
    return new OAuthError('insufficient_scope', {
      status: 403,
      description: `this request needs scope ${scope}`,
      // RFC 6750 §3: the scope needed; RFC 9728 §5.1: where to learn how to get it.
      headers: { 'WWW-Authenticate': challenge({ error: 'insufficient_scope', scope }, metadata) },
    });
  }
  if (options.user && claims.userId === null) {
    return new OAuthError('insufficient_scope', {
      status: 403,
      description: 'this API acts for a user; a client_credentials token has none',
      headers: {
        'WWW-Authenticate': challenge(
          {
            error: 'insufficient_scope',
            description: 'a user token is required',
            ...(scope ? { scope } : {}),
          },
          metadata,
        ),
      },
    });
  }
  return null;
}
