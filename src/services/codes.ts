import type { Deps } from '../deps';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from '../storage/audit';
import { codeCopy, consumeCodeStatement, findCode, touchGrantOfCodeStatement } from '../storage/codes';
import { deleteGrantStatement } from '../storage/grants';
import { refreshTokenFromCodeStatement } from '../storage/refresh-tokens';
import type { Code } from '../storage/schema';
import { defaultResourceUri } from './resources';

/** A code presented at the token endpoint, with what it must have been issued for. */
export interface Redemption {
  code: string;
  clientId: string;
  redirectUri: string;
  /** The S256 challenge of the presented code_verifier (RFC 7636 §4.6). */
  codeChallenge: string;
  /**
   * RFC 8707 §2.2: the resources the token request names (checked known by
   * services/resources.ts), each of which the code must hold; null: none named.
   */
  resources: readonly string[] | null;
  /** Mint the family's first refresh token with the redemption (its hash; public clients need offline_access). */
  refresh?: { tokenHash: string; requireOfflineAccess: boolean };
}

/**
 * Redeems a code: the one place a code becomes tokens.
 * 1. The KV copy, when this location sees it, turns away a redemption whose
 *    client, redirect URI or PKCE verifier does not match, without a D1 write.
 * 2. D1 decides: one atomic UPDATE ... RETURNING consumes the code only if it
 *    is unredeemed, unexpired and every binding matches. RFC 6749 §4.1.2: a
 *    code is single-use, so of two concurrent redemptions exactly one succeeds.
 * 3. A code that was already redeemed has leaked or been replayed: its grant
 *    is revoked, ending the tokens the first redemption issued (RFC 6749
 *    §4.1.2, RFC 9700 §4.5).
 * 4. A code that would have been redeemed but for a resource it does not hold
 *    stays unredeemed: the client may try again within the code's life with
 *    what it was granted (RFC 8707 §2.2 invalid_target, nothing spent).
 * Returns the code's row, or why it cannot be redeemed.
 */
export async function redeemCode(deps: Deps, redemption: Redemption): Promise<RedeemedCode> {
  const hash = await hashSecret(redemption.code);
  const copy = await codeCopy(deps.env.KV, hash);
  const mismatch =
    copy !== null &&
    (copy.clientId !== redemption.clientId ||
      copy.redirectUri !== redemption.redirectUri ||
      copy.codeChallenge !== redemption.codeChallenge);
  if (!mismatch) {
    const row = await consume(deps, hash, redemption);
    if (row) return { outcome: 'redeemed', code: row };
  }
  // Refused either way; a code that was already redeemed is a replay, however
  // it is presented, and the same whether or not KV still holds its copy.
  const found = await findCode(deps.db, hash);
  if (found?.redeemedAt != null) {
    await revokeReplayedCode(deps, found);
    return { outcome: 'invalid' };
  }
  if (!mismatch && found && redeemableButForResource(found, redemption)) return { outcome: 'target_not_granted' };
  return { outcome: 'invalid' };
}

/** What a redemption came to. */
export type RedeemedCode = { outcome: 'redeemed'; code: Code } | { outcome: 'invalid' } | { outcome: 'target_not_granted' };

/** Whether an unredeemed code matched every binding, so only a resource it does not hold stopped it. */
function redeemableButForResource(code: Code, redemption: Redemption): boolean {
  return (
    code.clientId === redemption.clientId &&
    code.redirectUri === redemption.redirectUri &&
    code.codeChallenge === redemption.codeChallenge &&
    code.expiresAt > now() &&
    redemption.resources !== null
  );
}

/**
 * Consumes a code and does what its redemption implies, in one D1 batch (one
 * round trip, one transaction): the atomic UPDATE (only if every binding
 * matches) marks the code with this request's marker; the grant's last use
 * and the first refresh token follow, each acting only where the code bears
 * this request's marker, so a request that lost the race changes nothing.
 */
async function consume(deps: Deps, hash: string, redemption: Redemption): Promise<Code | undefined> {
  const { db } = deps;
  const time = now();
  const marker = randomSecret(16);
  const { clientId, redirectUri, codeChallenge } = redemption;
  const update = consumeCodeStatement(db, {
    hash,
    clientId,
    redirectUri,
    codeChallenge,
    time,
    marker,
    resources: redemption.resources ?? [],
    defaultResources: JSON.stringify([defaultResourceUri(deps.issuer)]),
  });
  const touch = touchGrantOfCodeStatement(db, { hash, marker, time });
  const refresh = redemption.refresh ? [refreshTokenFromCodeStatement(db, { codeHash: hash, marker, time, ...redemption.refresh })] : [];
  const [rows] = await db.batch([update, touch, ...refresh]);
  return rows[0];
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
