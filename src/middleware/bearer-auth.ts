import type { BatchItem } from 'drizzle-orm/batch';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { OAuthError, oauthErrorResponse } from '../errors';
import { type StandingAccessToken, verifyAccessToken, verifyUserToken } from '../services/tokens';
import { isClientCredentialsGrant, liveGrantQuery, liveGrantUser } from '../storage/grants';

const REALM = 'tollgate';

/** Who a user API token belongs to. */
export interface ApiUser {
  userId: string;
}

/** A verified, standing access token, as a bearer route sees it. */
export interface AccessTokenInfo extends StandingAccessToken {
  token: string;
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; null when absent. */
function bearerToken(c: Context): string | null {
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

function invalidToken(description: string): OAuthError {
  return new OAuthError('invalid_token', {
    status: 401,
    description,
    headers: { 'WWW-Authenticate': challenge('invalid_token', description) },
  });
}

function missingToken(): OAuthError {
  // RFC 6750 §3.1: no error code when the request carried no authentication.
  return new OAuthError('invalid_token', {
    status: 401,
    description: 'an access token is required',
    headers: { 'WWW-Authenticate': challenge() },
  });
}

export interface AccessTokenOptions {
  /** The scope the route needs (RFC 6750 §3.1 insufficient_scope otherwise). */
  scope: string;
  /** The route acts for a user: a client_credentials token (no user) is refused. */
  user?: boolean;
  /**
   * For read-only routes: the grant check joins the route's own D1 batch
   * through `withStandingGrant`, so the whole request is one round trip. Should
   * the route not call it, the check runs after the route and its answer is
   * replaced by a 401 when the token no longer stands.
   */
  batchedGrantCheck?: boolean;
}

/**
 * Protects a resource route: a valid access token (RFC 9068 JWT) whose grant
 * still exists and that carries the route's scope.
 */
export function requireAccessToken(options: AccessTokenOptions): MiddlewareHandler<AppEnv> {
  return async function requireAccessToken(c, next) {
    const token = bearerToken(c);
    if (!token) throw missingToken();
    const verified = await verifyAccessToken(c.var.deps, token);
    if (!verified) throw invalidToken('the access token is invalid, expired or revoked');
    let userId: string | null;
    if (options.batchedGrantCheck && !isClientCredentialsGrant(verified.grantId)) {
      // A user's token on a read route: the check rides in the route's batch.
      c.set('pendingGrantCheck', liveGrantQuery(c.var.deps.db, verified.grantId, verified.jti));
      userId = verified.sub;
    } else {
      const grant = await liveGrantUser(c.var.deps.db, verified.grantId, verified.jti);
      if (!grant) throw invalidToken('the access token is invalid, expired or revoked');
      userId = grant.userId;
    }
    const claims: StandingAccessToken = { ...verified, userId };
    const lacksScope = !claims.scope.includes(options.scope);
    if (lacksScope || (options.user && claims.userId === null)) {
      // About to refuse with 403: a token that no longer stands is told so first (401).
      const pending = c.get('pendingGrantCheck');
      c.set('pendingGrantCheck', undefined);
      if (pending && (await pending).length === 0) throw invalidToken('the access token is invalid, expired or revoked');
    }
    if (lacksScope) {
      throw new OAuthError('insufficient_scope', {
        status: 403,
        description: `this request needs scope ${options.scope}`,
        headers: { 'WWW-Authenticate': challenge('insufficient_scope', undefined, options.scope) },
      });
    }
    if (options.user && claims.userId === null) {
      throw new OAuthError('insufficient_scope', {
        status: 403,
        description: 'this API acts for a user; a client_credentials token has none',
        headers: { 'WWW-Authenticate': challenge('insufficient_scope', 'a user token is required', options.scope) },
      });
    }
    c.set('accessToken', { ...claims, token });
    await next();
    const pending = c.get('pendingGrantCheck');
    if (pending) {
      c.set('pendingGrantCheck', undefined);
      if ((await pending).length === 0) c.res = oauthErrorResponse(invalidToken('the access token is invalid, expired or revoked'));
    }
  };
}

/**
 * Runs a bearer route's read together with its pending grant check, in one
 * D1 batch; throws invalid_token (401) when the token no longer stands.
 */
export async function withStandingGrant<T>(c: Context<AppEnv>, read: BatchItem<'sqlite'> & PromiseLike<T>): Promise<T> {
  const check = c.get('pendingGrantCheck');
  if (!check) throw new Error('withStandingGrant needs requireAccessToken({ batchedGrantCheck: true })');
  c.set('pendingGrantCheck', undefined);
  const [grant, result] = await c.var.deps.db.batch([check, read]);
  if (grant.length === 0) throw invalidToken('the access token is invalid, expired or revoked');
  return result as T;
}

/** Protects the management API: a user API token from `/api/login`. */
export const requireUserToken: MiddlewareHandler<AppEnv> = async function requireUserToken(c, next) {
  const token = bearerToken(c);
  if (!token) throw missingToken();
  const userId = await verifyUserToken(c.var.deps, token);
  if (!userId) throw invalidToken('the user API token is invalid or expired; sign in again at /api/login');
  c.set('apiUser', { userId });
  await next();
};
