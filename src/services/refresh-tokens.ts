import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from '../storage/audit';
import { deleteGrantStatement } from '../storage/grants';
import {
  findRefreshToken,
  findRefreshTokenOfClient,
  MAX_REQUESTED_SCOPES,
  successorOfRefreshTokenStatement,
  touchGrantOfRefreshTokenStatement,
  useRefreshTokenStatement,
} from '../storage/refresh-tokens';
import type { AuditEventType, RefreshToken } from '../storage/schema';
import { defaultResourceUri } from './resources';
import { splitScope } from './scopes';

/** What one use of a refresh token came to. */
export type Rotation =
  | { outcome: 'rotated'; previous: RefreshToken; token: string }
  | { outcome: 'invalid' }
  | { outcome: 'reused' }
  | { outcome: 'scope_widened' }
  | { outcome: 'target_widened' };

/**
 * Uses a refresh token once and mints its successor, in one D1 batch (one
 * round trip, one transaction):
 * 1. UPDATE marks the token used and names its successor, only if it is
 *    unused, unexpired, the caller's, and covers every requested scope and
 *    resource (RFC 8707 §2.2). Of
 *    two concurrent uses exactly one can match (RFC 9700 §4.14.2).
 * 2. INSERT ... SELECT copies it into the successor, only where step 1 named
 *    this request's successor: nothing is minted for a request that lost.
 * 3. The grant records its last use, through the successor (so only then).
 * On failure one read says why; a token that was already used means the
 * family leaked, and its grant is deleted with every token under it.
 */
export async function rotateRefreshToken(
  deps: Deps,
  token: string,
  clientId: string,
  requestedScope: string[],
  requestedResources: readonly string[] = [],
): Promise<Rotation> {
  // RFC 6749 §6: a narrower scope may be asked for, never a wider one; more
  // scopes than are supported is wider than any grant.
  if (requestedScope.length > MAX_REQUESTED_SCOPES) return { outcome: 'scope_widened' };
  const { db } = deps;
  const [hash, next] = [await hashSecret(token), randomSecret()];
  const nextHash = await hashSecret(next);
  const time = now();
  const [rotated] = await db.batch([
    useRefreshTokenStatement(db, {
      hash,
      clientId,
      nextHash,
      time,
      requestedScope,
      requestedResources,
      defaultResources: JSON.stringify([defaultResourceUri(deps.issuer)]),
    }),
    successorOfRefreshTokenStatement(db, { hash, nextHash, time }),
    touchGrantOfRefreshTokenStatement(db, { nextHash, time }),
  ]);
  const previous = rotated[0];
  if (previous) return { outcome: 'rotated', previous, token: next };

  const row = await findRefreshToken(db, hash);
  if (!row) return { outcome: 'invalid' };
  if (row.usedAt !== null) {
    // RFC 9700 §4.14.2: a rotated token used again means the family leaked.
    await revokeGrantOf(deps, row, 'refresh_reuse');
    return { outcome: 'reused' };
  }
  if (row.clientId !== clientId || row.expiresAt <= time || row.absoluteExpiresAt <= time) return { outcome: 'invalid' };
  // Usable, so the request asked for more than the token holds: which part?
  const held = splitScope(row.scope);
  if (requestedScope.every((scope) => held.includes(scope))) return { outcome: 'target_widened' };
  return { outcome: 'scope_widened' };
}

/**
 * Revokes the family of a client's refresh token (used or not) by deleting
 * its grant: RFC 7009 §2.1 asks that the access tokens of the same grant go too.
 * Returns false when the token is unknown or another client's.
 */
export async function revokeRefreshTokenFamily(deps: Deps, token: string, clientId: string): Promise<boolean> {
  const row = await findRefreshTokenOfClient(deps.db, await hashSecret(token), clientId);
  if (!row) return false;
  await revokeGrantOf(deps, row, 'grant_revoked');
  return true;
}

/**
 * Deletes the grant a refresh token belongs to, which ends its family and
 * every access token the grant backs, with the audit event that says why:
 * both in one D1 batch, so neither happens without the other.
 */
async function revokeGrantOf(deps: Deps, row: RefreshToken, type: AuditEventType): Promise<void> {
  const { db } = deps;
  await db.batch([deleteGrantStatement(db, row.grantId), auditStatement(db, { type, userId: row.userId, clientId: row.clientId })]);
}
