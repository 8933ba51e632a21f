// The parts of an RFC 6750 bearer check that take Hono's context: reading the
// token, the challenges, and the verdicts shared by the middleware that
// guards a route (middleware/bearer-auth.ts) and the handler that owns a
// read's batch (helpers/bearer-read.ts).
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { type StandingAccessToken, tokenStandsOn, type VerifiedAccessToken, verifyAccessToken } from '../services/tokens';
import type { Db } from '../storage/db';
import { liveGrant } from '../storage/grants';

const REALM = 'tollgate';

/** What a bearer route asks of the access token. */
export interface AccessTokenOptions {
  /** The scope the route needs (RFC 6750 §3.1 insufficient_scope otherwise). */
  scope: string;
  /** The route acts for a user: a client_credentials token (no user) is refused. */
  user?: boolean;
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; null when absent. */
export function bearerToken(c: Context): string | null {
  const header = c.req.header('Authorization');
  if (!header) return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) throw invalidToken('the Authorization header is not a Bearer token');
  return match[1];
}

/** RFC 6750 §3: the error in WWW-Authenticate as well as in the body. */
function challenge(error?: string, description?: string, scope?: string): string {
  const parts = [`realm="${REALM}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function invalidToken(description: string): OAuthError {
  return new OAuthError('invalid_token', {
    status: 401,
    description,
    headers: { 'WWW-Authenticate': challenge('invalid_token', description) },
  });
}

export function missingToken(): OAuthError {
  // RFC 6750 §3.1: no error code when the request carried no authentication.
  return new OAuthError('invalid_token', {
    status: 401,
    description: 'an access token is required',
    headers: { 'WWW-Authenticate': challenge() },
  });
}

/** RFC 6750 §3.1 invalid_token (401): the token was revoked, expired or never valid. */
export function tokenNoLongerStands(): OAuthError {
  return invalidToken('the access token is invalid, expired or revoked');
}

/**
 * The user a verified token acts for (null: a client_credentials token, the
 * client itself) when it stands on its grant (`tokenStandsOn`: the grant is
 * live, its jti not revoked, its claims within the grant); throws
 * invalid_token otherwise. One D1 round trip.
 */
export async function standingUser(db: Db, verified: VerifiedAccessToken): Promise<string | null> {
  const grant = await liveGrant(db, verified.grantId, verified.jti);
  if (!tokenStandsOn(verified, grant)) throw tokenNoLongerStands();
  return grant.userId;
}

/**
 * The request's access token (RFC 6750 §2.1), verified as an RFC 9068 JWT:
 * signature, audience and expiry only. Whether its grant still stands is D1's
 * answer, which the caller asks (alone or in its own batch). Throws
 * invalid_token (401) when the token is absent or does not verify.
 */
export async function verifiedBearer(c: Context<AppEnv>): Promise<{ token: string; verified: VerifiedAccessToken }> {
  const token = bearerToken(c);
  if (!token) throw missingToken();
  const verified = await verifyAccessToken(c.var.deps, token);
  if (!verified) throw tokenNoLongerStands();
  return { token, verified };
}

/**
 * RFC 6750 §3.1 insufficient_scope (403) for a token the route may not use, or
 * null when it may. Only for a token known to stand: a token that no longer
 * stands is answered 401 first, whatever it lacks.
 */
export function accessRefusal(claims: StandingAccessToken, options: AccessTokenOptions): OAuthError | null {
  if (!claims.scope.includes(options.scope)) {
    return new OAuthError('insufficient_scope', {
      status: 403,
      description: `this request needs scope ${options.scope}`,
      headers: { 'WWW-Authenticate': challenge('insufficient_scope', undefined, options.scope) },
    });
  }
  if (options.user && claims.userId === null) {
    return new OAuthError('insufficient_scope', {
      status: 403,
      description: 'this API acts for a user; a client_credentials token has none',
      headers: { 'WWW-Authenticate': challenge('insufficient_scope', 'a user token is required', options.scope) },
    });
  }
  return null;
}
