import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from '../storage/audit';
import { guardedClientQuery } from '../storage/clients';
import { recordProofOfClientStatement } from '../storage/dpop-proofs';
import { deleteGrantStatement } from '../storage/grants';
import {
  findRefreshTokenOfClient,
  MAX_REQUESTED_SCOPES,
  refreshTokenQuery,
  successorOfRefreshTokenStatement,
  touchGrantOfRefreshTokenStatement,
  useRefreshTokenStatement,
} from '../storage/refresh-tokens';
import type { AuditEventType, Client, RefreshToken } from '../storage/schema';
import { inClientBatch, type PendingClient } from './client-authentication';
import type { DpopProof } from './dpop';
import { defaultResourceUri } from './resources';
import { allowedScopes, splitScope } from './scopes';

/** What one use of a refresh token came to, with the client it authenticated. */
export type Rotation = { client: Client } & (
  | { outcome: 'rotated'; previous: RefreshToken; token: string }
  | { outcome: 'invalid' }
  | { outcome: 'reused' }
  | { outcome: 'scope_widened' }
  | { outcome: 'target_widened' }
  | { outcome: 'dpop_required' }
  | { outcome: 'dpop_key_mismatch' }
);

/**
 * Uses a refresh token once and mints its successor, in one D1 batch (one
 * round trip, one transaction) that also authenticates the client
 * (services/client-authentication.ts):
 * 1. the client's row, and the token as it was (why a use failed);
 * 2. UPDATE marks the token used and names its successor, only if it is
 *    unused, unexpired, the caller's, covers every requested scope and
 *    resource (RFC 8707 §2.2), each requested scope is one the client may
 *    request, and the client authenticates. Of two concurrent uses exactly
 *    one can match (RFC 9700 §4.14.2);
 * 3. INSERT ... SELECT copies it into the successor, only where step 2 named
 *    this request's successor: nothing is minted for a request that lost;
 * 4. the grant records its last use, through the successor (so only then).
 * Then the client is checked (its errors first: a failed authentication
 * rotates nothing), and a refused use is explained from the token as it was;
 * a token that was already used means the family leaked, and its grant is
 * deleted with every token under it.
 */
export async function rotateRefreshToken(
  deps: Deps,
  pending: PendingClient,
  token: string,
  requestedScope: string[],
  requestedResources: readonly string[] = [],
  dpop: DpopProof | null = null,
): Promise<Rotation> {
  // RFC 6749 §6: a narrower scope may be asked for, never a wider one; more
  // scopes than are supported is wider than any grant.
  if (requestedScope.length > MAX_REQUESTED_SCOPES) return { outcome: 'scope_widened', client: await pending.authenticate() };
  const { db } = deps;
  const hash = await hashSecret(token);
  const { client, before, rotated } = await inClientBatch(pending, async () => {
    const next = randomSecret();
    const nextHash = await hashSecret(next);
    const time = now();
    const [clientRows, tokenRows, usedRows] = await db.batch([
      guardedClientQuery(db, pending.guard),
      refreshTokenQuery(db, hash),
      useRefreshTokenStatement(db, {
        hash,
        clientId: pending.id,
        nextHash,
        time,
        requestedScope,
        requestedResources,
        defaultResources: JSON.stringify([defaultResourceUri(deps.issuer)]),
        guard: pending.guard,
        dpopJkt: dpop?.jkt ?? null,
      }),
      successorOfRefreshTokenStatement(db, { hash, nextHash, time, dpopJkt: dpop?.jkt ?? null }),
      touchGrantOfRefreshTokenStatement(db, { nextHash, time }),
      // RFC 9449 §11.1: the proof's single use, in this batch (a replay fails it whole, rotating nothing).
      ...(dpop ? [recordProofOfClientStatement(db, dpop, pending.guard)] : []),
      // RFC 7523 §3: a private_key_jwt assertion's single use, likewise.
      ...pending.writes(db),
    ]);
    const previous = usedRows[0];
    return { clientRow: clientRows[0], before: tokenRows[0], rotated: previous ? { previous, token: next } : undefined };
  });
  // RFC 6749 §3.3: only scopes the client may request (the UPDATE held it to
  // the same, so a rotated token passes).
  if (requestedScope.length > 0) allowedScopes(requestedScope.join(' '), client.scope);
  if (rotated) return { outcome: 'rotated', client, ...rotated };

  const time = now();
  const row = before;
  if (!row) return { outcome: 'invalid', client };
  if (row.usedAt !== null) {
    // RFC 9700 §4.14.2: a rotated token used again means the family leaked.
    await revokeGrantOf(deps, row, 'refresh_reuse');
    return { outcome: 'reused', client };
  }
  if (row.clientId !== client.id || row.expiresAt <= time || row.absoluteExpiresAt <= time) return { outcome: 'invalid', client };
  // RFC 9449 §5.2, §5: held back for want of a proof, or of one by the family's key; nothing rotated.
  if (!dpop && client.dpopBoundAccessTokens) return { outcome: 'dpop_required', client };
  if (row.dpopJkt !== null && row.dpopJkt !== dpop?.jkt) return { outcome: 'dpop_key_mismatch', client };
  // Usable, so the request asked for more than the token holds: which part?
  const held = splitScope(row.scope);
  if (requestedScope.every((scope) => held.includes(scope))) return { outcome: 'target_widened', client };
  return { outcome: 'scope_widened', client };
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
