import type { Deps } from '../deps';
import { recordAudit } from '../storage/audit';
import { deleteGrantOfUser } from '../storage/grants';

/**
 * A user revokes one of their grants (the account page): the grant goes, and
 * with it every code, refresh token and access token issued under it;
 * audited `grant_revoked`. The event follows the deletion in its own round
 * trip: it is recorded only when the DELETE found the user's grant, and it
 * names the grant's client, which the DELETE returns. Returns false when the
 * user has no such grant.
 */
export async function revokeGrantOfUser(deps: Deps, userId: string, grantId: string): Promise<boolean> {
  const deleted = await deleteGrantOfUser(deps.db, userId, grantId);
  if (!deleted) return false;
  await recordAudit(deps.db, { type: 'grant_revoked', userId, clientId: deleted.clientId });
  return true;
}
