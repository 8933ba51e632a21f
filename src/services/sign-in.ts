import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { recordAudit } from '../storage/audit';
import type { User } from '../storage/schema';
import { authenticate, type Credentials } from './accounts';
import { assertUnlocked, clientIp, countFailure } from './rate-limits';

/**
 * A password sign-in, as both /login and /api/login do it. While the account
 * (or the IP) is over its failure limit the password is not even checked:
 * 429 for a minute. Every outcome is audited. Null for a wrong email or password.
 */
export async function signIn(c: Context<AppEnv>, credentials: Credentials): Promise<User | null> {
  const ip = clientIp(c);
  await Promise.all([assertUnlocked(c.env, 'signIn', credentials.email), ip ? assertUnlocked(c.env, 'signInIp', ip) : undefined]);
  const result = await authenticate(c.var.db, credentials);
  if (result.ok) {
    await recordAudit(c.var.db, { type: 'sign_in', userId: result.user.id, ip });
    return result.user;
  }
  await recordAudit(c.var.db, { type: 'sign_in_failed', userId: result.userId, ip });
  await countFailure(c.env, 'signIn', credentials.email, { lock: true });
  if (ip) await countFailure(c.env, 'signInIp', ip, { lock: true });
  return null;
}
