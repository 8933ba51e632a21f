// The parts of an RFC 6750 bearer check that take Hono's context: reading the
// token, the challenges, and the verdicts shared by the middleware that
// guards a route (middleware/bearer-auth.ts) and the handler that owns a
// read's batch (helpers/bearer-read.ts).
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { type ProtectedResource, resourceMetadataUrl, resourceUri } from '../services/resources';
import { type StandingAccessToken, tokenStandsOn, type VerifiedAccessToken, verifyAccessToken } from '../services/tokens';
import type { Db } from '../storage/db';
import { liveGrant } from '../storage/grants';

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
 * Where a route's challenges send the client (RFC 9728 §5.1 `resource_metadata`):
 * the metadata URL of its resource, or undefined for the authorization server's own endpoints.
 */
export type MetadataPointer = string | undefined;

/** The `resource_metadata` of a route's challenges (RFC 9728 §5.1), from its options. */
export function metadataPointer(c: Context<AppEnv>, options: Pick<AccessTokenOptions, 'resource'>): MetadataPointer {
  return options.resource ? resourceMetadataUrl(c.var.deps.issuer, options.resource) : undefined;
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; null when absent. */
export function bearerToken(c: Context, metadata?: MetadataPointer): string | null {
  const header = c.req.header('Authorization');
  if (!header) return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) throw invalidToken('the Authorization header is not a Bearer token', metadata);
  return match[1];
}

/** The parts of a challenge (RFC 6750 §3, RFC 9728 §5.1). */
interface ChallengeFields {
  error?: string;
  description?: string;
  scope?: string;
  resourceMetadata?: MetadataPointer;
}

/** RFC 6750 §3: the error in WWW-Authenticate as well as in the body. */
function challenge({ error, description, scope, resourceMetadata }: ChallengeFields = {}): string {
  const parts = [`realm="${REALM}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  // RFC 9728 §5.1: where the client finds which authorization server to ask, and for what.
  if (resourceMetadata) parts.push(`resource_metadata="${resourceMetadata}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function invalidToken(description: string, metadata?: MetadataPointer): OAuthError {
  return new OAuthError('invalid_token', {
    status: 401,
    description,
    headers: { 'WWW-Authenticate': challenge({ error: 'invalid_token', description, resourceMetadata: metadata }) },
  });
}

export function missingToken(metadata?: MetadataPointer): OAuthError {
  // RFC 6750 §3.1: no error code when the request carried no authentication.
  return new OAuthError('invalid_token', {
    status: 401,
    description: 'an access token is required',
    headers: { 'WWW-Authenticate': challenge({ resourceMetadata: metadata }) },
  });
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
export async function standingUser(db: Db, verified: VerifiedAccessToken, metadata?: MetadataPointer): Promise<string | null> {
  const grant = await liveGrant(db, verified.grantId, verified.jti);
  if (!tokenStandsOn(verified, grant)) throw tokenNoLongerStands(metadata);
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
): Promise<{ token: string; verified: VerifiedAccessToken }> {
  const metadata = metadataPointer(c, options);
  const token = bearerToken(c, metadata);
  if (!token) throw missingToken(metadata);
  const verified = await verifyAccessToken(c.var.deps, token);
  if (!verified) throw tokenNoLongerStands(metadata);
  if (options.resource && !verified.audience.includes(resourceUri(c.var.deps.issuer, options.resource))) {
    throw invalidToken('the access token is for another resource (its aud)', metadata);
  }
  return { token, verified };
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
      headers: { 'WWW-Authenticate': challenge({ error: 'insufficient_scope', scope, resourceMetadata: metadata }) },
    });
  }
  if (options.user && claims.userId === null) {
    return new OAuthError('insufficient_scope', {
      status: 403,
      description: 'this API acts for a user; a client_credentials token has none',
      headers: {
        'WWW-Authenticate': challenge({
          error: 'insufficient_scope',
          description: 'a user token is required',
          ...(scope ? { scope } : {}),
          resourceMetadata: metadata,
        }),
      },
    });
  }
  return null;
}
