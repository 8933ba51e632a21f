import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import {
  type AccessTokenOptions,
  accessRefusal,
  bearerToken,
  invalidToken,
  metadataPointer,
  missingToken,
  standingUser,
  standingUserWithProof,
  verifiedBearer,
} from '../helpers/bearer';
import type { StandingAccessToken } from '../services/tokens';
import { standingUserApiToken } from '../services/user-api-tokens';

/**
 * Protects a resource route: a valid access token (RFC 9068 JWT) whose grant
 * still exists and holds every scope the token claims, whose `aud` names the
 * route's resource, and that carries the route's scope. The grant check is a D1
 * round trip of its own, before the route runs: right for writes, which must
 * not happen for a revoked token. A read batches the check with itself
 * instead: see `bearerRead` (helpers/bearer-read.ts).
 */
export function requireAccessToken(options: AccessTokenOptions): MiddlewareHandler<AppEnv> {
  return async function requireAccessToken(c, next) {
    const { token, verified, proof } = await verifiedBearer(c, options);
    const metadata = metadataPointer(c, options);
    // A DPoP-bound token's proof is recorded in the grant check's batch (RFC 9449 §11.1): still one round trip.
    const userId = proof ? await standingUserWithProof(c, verified, proof, metadata) : await standingUser(c, verified, metadata);
    const claims: StandingAccessToken = { ...verified, userId };
    const refused = accessRefusal(claims, options, metadata);
    if (refused) throw refused;
    c.set('accessToken', { ...claims, token });
    await next();
  };
}

/**
 * Protects the management API: a user API token from `/api/login` that
 * verifies and still stands in D1 (not signed out, not forged: see
 * services/user-api-tokens.ts). One D1 round trip.
 */
export const requireUserToken: MiddlewareHandler<AppEnv> = async function requireUserToken(c, next) {
  const token = bearerToken(c);
  if (!token) throw missingToken();
  const apiUser = await standingUserApiToken(c.var.deps, token);
  if (!apiUser) throw invalidToken('the user API token is invalid, expired or signed out; sign in again at /api/login');
  c.set('apiUser', apiUser);
  await next();
};
