import { USER_TOKEN_TTL } from '../config';
import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import {
  deleteUserApiTokenStatement,
  insertUserApiTokenStatement,
  liveUserApiTokenQuery,
  pruneUserApiTokensStatement,
} from '../storage/user-api-tokens';
import { signUserToken, verifyUserToken } from './tokens';

/** A user API token that stands: whose it is, and the hash that names its row (to sign it out). */
export interface StandingUserApiToken {
  userId: string;
  jtiHash: string;
}

/**
 * Signs a user in to the management API (`POST /api/login`): a JWT whose
 * `jti` is a fresh 256-bit secret, and the row, keyed by the jti's SHA-256,
 * without which the token does not stand. The user's expired rows go in the
 * same D1 batch, so a user keeps at most the tokens still alive.
 */
export async function issueUserApiToken(deps: Deps, userId: string): Promise<string> {
  const { db } = deps;
  const jti = randomSecret();
  const time = now();
  const token = await signUserToken(deps, userId, jti);
  await db.batch([
    pruneUserApiTokensStatement(db, userId, time),
    insertUserApiTokenStatement(db, { jtiHash: await hashSecret(jti), userId, createdAt: time, expiresAt: time + USER_TOKEN_TTL }),
  ]);
  return token;
}

/**
 * The user API token's user, when its JWT verifies and its row still stands
 * (one D1 round trip); null otherwise. A signature alone is not enough: a
 * signing key can leak with the database, while the jti behind the row is
 * stored only as a hash, so a forged token has no row to stand on. Signing
 * out (or a password change) deletes the row, which ends the token at once
 * (OWASP ASVS 4.0 V3.3.1: logout invalidates the session at the server).
 */
export async function standingUserApiToken(deps: Deps, token: string): Promise<StandingUserApiToken | null> {
  const verified = await verifyUserToken(deps, token);
  if (!verified) return null;
  const jtiHash = await hashSecret(verified.jti);
  const [row] = await liveUserApiTokenQuery(deps.db, jtiHash, now());
  return row && row.userId === verified.userId ? { userId: row.userId, jtiHash } : null;
}

/** Signs one user API token out (`POST /api/logout`): its row goes, so it no longer stands. */
export async function revokeUserApiToken(deps: Deps, jtiHash: string): Promise<void> {
  await deleteUserApiTokenStatement(deps.db, jtiHash);
}
