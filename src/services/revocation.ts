import type { Deps } from '../deps';
import { now } from '../lib/crypto';
import { pruneRevokedTokensStatement, revokeJtiStatement } from '../storage/revoked-tokens';
import { revokeRefreshTokenFamily } from './refresh-tokens';
import { verifyAccessToken } from './tokens';

/** What a client asks the revocation endpoint to revoke (RFC 7009 §2.1). */
export interface RevocationRequest {
  token: string;
  /** `access_token` or `refresh_token` orders the lookups; otherwise the token's shape does. */
  tokenTypeHint?: string;
}

/**
 * Revokes a client's access or refresh token (RFC 7009 §2.1). The hint only
 * orders the lookups; an unknown hint is ignored. Nothing is said of the
 * outcome: the endpoint answers 200 whether or not the token was valid or the
 * client's (RFC 7009 §2.2), so that answer cannot tell a thief which tokens are live.
 */
export async function revokeTokenOfClient(deps: Deps, clientId: string, request: RevocationRequest): Promise<void> {
  const { token } = request;
  const revokeAccess = () => revokeAccessToken(deps, token, clientId);
  const revokeRefresh = () => revokeRefreshTokenFamily(deps, token, clientId);
  // The hint orders the lookups; without a usable one the token's shape does
  // (RFC 7009 §2.1 lets the server find the type itself): a JWT has three
  // parts, a refresh token none, so a JWT costs no D1 read as a refresh token.
  const accessFirst =
    request.tokenTypeHint === 'access_token' || (request.tokenTypeHint !== 'refresh_token' && token.split('.').length === 3);
  const [first, second] = accessFirst ? [revokeAccess, revokeRefresh] : [revokeRefresh, revokeAccess];
  if (!(await first())) await second();
}

/**
 * Revokes one access token by its jti until it would have expired anyway
 * (RFC 7009 §2), only if it verifies and is the client's: a client may revoke
 * only its own tokens. Revocations of tokens that have expired since are
 * pruned in the same D1 batch, which keeps the table to live tokens without a
 * round trip of its own. Returns false when the token is no access token of
 * the client's.
 */
async function revokeAccessToken(deps: Deps, token: string, clientId: string): Promise<boolean> {
  const claims = await verifyAccessToken(deps, token);
  if (!claims || claims.clientId !== clientId) return false;
  const { db } = deps;
  await db.batch([revokeJtiStatement(db, claims.jti, claims.exp), pruneRevokedTokensStatement(db, now())]);
  return true;
}
