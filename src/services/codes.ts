import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from '../storage/audit';
import { guardedClientQuery } from '../storage/clients';
import { codeQuery, consumeCodeStatement, touchGrantOfCodeStatement } from '../storage/codes';
import { recordProofOfClientStatement } from '../storage/dpop-proofs';
import { deleteGrantStatement } from '../storage/grants';
import { refreshTokenFromCodeStatement } from '../storage/refresh-tokens';
import type { Client, Code } from '../storage/schema';
import { inClientBatch, type PendingClient } from './client-authentication';
import type { DpopProof } from './dpop';
import { defaultResourceUri } from './resources';

/** A code presented at the token endpoint, with what it must have been issued for (and to the client presented). */
export interface Redemption {
  code: string;
  redirectUri: string;
  /** The S256 challenge of the presented code_verifier (RFC 7636 §4.6). */
  codeChallenge: string;
  /**
   * RFC 8707 §2.2: the resources the token request names (checked known by
   * services/resources.ts), each of which the code must hold; null: none named.
   */
  resources: readonly string[] | null;
  /**
   * Mint the family's first refresh token with the redemption (its hash;
   * public clients need offline_access); it is minted only for a client
   * registered for refresh_token.
   */
  refresh?: { tokenHash: string; requireOfflineAccess: boolean; dpopJkt?: string | null };
  /** The token request's DPoP proof (RFC 9449), recorded once in the redemption's batch; null: none. */
  dpop: DpopProof | null;
}

/**
 * Redeems a code: the one place a code becomes tokens, in one D1 batch (one
 * round trip, one transaction) that also authenticates the client
 * (services/client-authentication.ts):
 * 1. the client's row, and the code as it was (why a redemption failed);
 * 2. one atomic UPDATE ... RETURNING consumes the code only if it is
 *    unredeemed, unexpired, every binding matches and the client
 *    authenticates. RFC 6749 §4.1.2: a code is single-use, so of two
 *    concurrent redemptions exactly one succeeds;
 * 3. the grant's last use and the first refresh token follow, each acting
 *    only where the code bears this request's marker, so a request that lost
 *    the race (or whose client failed) changes nothing.
 * Then the client is checked (its errors first: a failed authentication
 * spends nothing and learns nothing of the code), and a refused redemption is
 * explained from the code as it was:
 * - a code that was already redeemed has leaked or been replayed: its grant
 *   is revoked, ending the tokens the first redemption issued (RFC 6749
 *   §4.1.2, RFC 9700 §4.5);
 * - a code that would have been redeemed but for a resource it does not hold
 *   stays unredeemed: the client may try again within the code's life with
 *   what it was granted (RFC 8707 §2.2 invalid_target, nothing spent).
 * Returns the authenticated client with the code's row, or why it cannot be
 * redeemed.
 */
export async function redeemCode(deps: Deps, pending: PendingClient, redemption: Redemption): Promise<RedeemedCode> {
  const { db } = deps;
  const hash = await hashSecret(redemption.code);
  const { client, before, consumed } = await inClientBatch(pending, async () => {
    const time = now();
    const marker = randomSecret(16);
    const { redirectUri, codeChallenge } = redemption;
    const update = consumeCodeStatement(db, {
      hash,
      clientId: pending.id,
      redirectUri,
      codeChallenge,
      time,
      marker,
      resources: redemption.resources ?? [],
      defaultResources: JSON.stringify([defaultResourceUri(deps.issuer)]),
      guard: pending.guard,
      dpopJkt: redemption.dpop?.jkt ?? null,
    });
    const touch = touchGrantOfCodeStatement(db, { hash, marker, time });
    const refresh = redemption.refresh ? [refreshTokenFromCodeStatement(db, { codeHash: hash, marker, time, ...redemption.refresh })] : [];
    // RFC 9449 §11.1: the proof's single use, in this batch (a replay fails it whole, spending nothing).
    const proof = redemption.dpop ? [recordProofOfClientStatement(db, redemption.dpop, pending.guard)] : [];
    const [clientRows, codeRows, consumedRows] = await db.batch([
      guardedClientQuery(db, pending.guard),
      codeQuery(db, hash),
      update,
      touch,
      ...refresh,
      ...proof,
      // RFC 7523 §3: a private_key_jwt assertion's single use, likewise.
      ...pending.writes(db),
    ]);
    return { clientRow: clientRows[0], before: codeRows[0], consumed: consumedRows[0] };
  });
  if (consumed) return { outcome: 'redeemed', client, code: consumed };
  if (before?.redeemedAt != null) {
    await revokeReplayedCode(deps, before);
    return { outcome: 'invalid', client };
  }
  // RFC 9449 §5.2 and §10: held back for want of the right proof; the code stays unspent.
  if (!redemption.dpop && client.dpopBoundAccessTokens) return { outcome: 'dpop_required', client };
  if (before && before.clientId === client.id && before.dpopJkt !== null && before.dpopJkt !== redemption.dpop?.jkt) {
    return { outcome: 'dpop_key_mismatch', client };
  }
  if (before && redeemableButForResource(before, client.id, redemption)) return { outcome: 'target_not_granted', client };
  return { outcome: 'invalid', client };
}

/** What a redemption came to, with the client it authenticated. */
export type RedeemedCode = { client: Client } & (
  | { outcome: 'redeemed'; code: Code }
  | { outcome: 'invalid' }
  | { outcome: 'target_not_granted' }
  | { outcome: 'dpop_required' }
  | { outcome: 'dpop_key_mismatch' }
);

/** Whether an unredeemed code matched every binding, so only a resource it does not hold stopped it. */
function redeemableButForResource(code: Code, clientId: string, redemption: Redemption): boolean {
  return (
    code.clientId === clientId &&
    code.redirectUri === redemption.redirectUri &&
    code.codeChallenge === redemption.codeChallenge &&
    code.expiresAt > now() &&
    redemption.resources !== null
  );
}

/**
 * RFC 6749 §4.1.2, RFC 9700 §4.5: a replayed code revokes its grant, and with
 * it every token the first redemption issued. The deletion and its audit
 * event share one D1 batch, so neither happens without the other.
 */
async function revokeReplayedCode(deps: Deps, code: Code): Promise<void> {
  const { db } = deps;
  await db.batch([
    deleteGrantStatement(db, code.grantId),
    auditStatement(db, { type: 'code_replay', userId: code.userId, clientId: code.clientId }),
  ]);
}
