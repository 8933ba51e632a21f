import { lt } from 'drizzle-orm';
import type { Db } from './db';
import { codes, refreshTokens, sessions, userApiTokens } from './schema';

/**
 * The deletes of rows that expired before `before`, for the Cron Trigger
 * (services/retention.ts runs them in one batch): codes (redeemed or not),
 * refresh tokens (spent or not: a token's own `expires_at` is when it stopped
 * being usable), browser sessions and user API tokens. Each is written on
 * every sign-in, code flow or refresh, and nothing else deletes them while
 * their grant or user stands.
 */
export function pruneExpiredStatements(db: Db, before: number) {
  return [
    db.delete(codes).where(lt(codes.expiresAt, before)),
    db.delete(refreshTokens).where(lt(refreshTokens.expiresAt, before)),
    db.delete(sessions).where(lt(sessions.expiresAt, before)),
    db.delete(userApiTokens).where(lt(userApiTokens.expiresAt, before)),
  ] as const;
}
