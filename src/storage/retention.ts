import { lt } from 'drizzle-orm';
import type { Db } from './db';
import { pruneKeptMailStatement } from './dev-mailbox';
import { pruneEmailTokensStatement } from './email-tokens';
import { clientAssertions, codes, dpopProofs, refreshTokens, sessions, userApiTokens, webauthnChallenges } from './schema';
import { prunePendingSignInsStatement } from './totp';
import { pruneUpstreamRequestsUsedStatement } from './user-identities';

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
    // DPoP proofs seen (RFC 9449 §11.1): past expires_at a proof fails its iat check anyway.
    db.delete(dpopProofs).where(lt(dpopProofs.expiresAt, before)),
    // WebAuthn challenges (passkeys): an expired one can no longer be answered.
    db.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, before)),
    // private_key_jwt assertions spent (RFC 7523 §3): past expires_at an assertion fails its exp check anyway.
    db.delete(clientAssertions).where(lt(clientAssertions.expiresAt, before)),
    // Mailed links (password reset, email verification): an expired one can no longer be used.
    pruneEmailTokensStatement(db, before),
    // Sign-ins that waited for a two-factor code past PENDING_SIGN_IN_TTL: they can no longer be completed.
    prunePendingSignInsStatement(db, before),
    // Upstream sign-in requests already used: past expires_at the sealed request fails its own expiry check.
    pruneUpstreamRequestsUsedStatement(db, before),
    // The dev mailbox (only with DEV_MAILBOX=true): a day of mail; at most DEV_MAILBOX_MAX_MESSAGES rows, so no index.
    pruneKeptMailStatement(db, before),
  ] as const;
}
