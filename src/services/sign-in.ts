import type { Deps } from '../deps';
import { recordAudit } from '../storage/audit';
import type { User } from '../storage/schema';
import { authenticate, type Credentials } from './accounts';
import { assertUnlocked, countFailure } from './rate-limits';

/**
 * A password sign-in, as both /login and /api/login do it. While the account
 * (or the IP) is over its failure limit the password is not even checked:
 * 429 for a minute. Every outcome is audited. Null for a wrong email or password.
 */
export async function signIn(deps: Deps, credentials: Credentials, ip: string | null): Promise<User | null> {
  await Promise.all([assertUnlocked(deps, 'signIn', credentials.email), ip ? assertUnlocked(deps, 'signInIp', ip) : undefined]);
  const result = await authenticate(deps, credentials);
  if (result.ok) {
    await recordAudit(deps.db, { type: 'sign_in', userId: result.user.id, ip });
    return result.user;
  }
  await recordAudit(deps.db, { type: 'sign_in_failed', userId: result.userId, ip });
  await countFailure(deps, 'signIn', credentials.email, { lock: true });
  if (ip) await countFailure(deps, 'signInIp', ip, { lock: true });
  return null;
}
