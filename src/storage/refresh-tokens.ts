import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { REFRESH_TOKEN_ABSOLUTE_TTL, REFRESH_TOKEN_IDLE_TTL, SUPPORTED_SCOPES } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from './audit';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { codes, grants, type RefreshToken, refreshTokens, users } from './schema';

/**
 * The first refresh token of a family, minted from the code a request just
 * redeemed (the code row carries grant, user, scope and auth_time): an INSERT
 * ... SELECT that acts only where the code bears this request's redemption
 * marker. With `requireOfflineAccess` (public clients) it acts only when the
 * code's scope holds offline_access.
 */
export function refreshTokenFromCodeStatement(
  db: Db,
  input: { codeHash: string; marker: string; tokenHash: string; time: number; requireOfflineAccess: boolean },
) {
  const { time } = input;
  return bind(refreshTokenFromCode(input.requireOfflineAccess)(db), {
    codeHash: input.codeHash,
    marker: input.marker,
    tokenHash: input.tokenHash,
    time,
    expiresAt: time + Math.min(REFRESH_TOKEN_IDLE_TTL, REFRESH_TOKEN_ABSOLUTE_TTL),
    absoluteExpiresAt: time + REFRESH_TOKEN_ABSOLUTE_TTL,
  });
}

// Every redemption with offline access runs one of these two: prepared once (see prepared.ts).
const refreshTokenFromCodeVariants = [false, true].map((requireOfflineAccess) =>
  preparedOnce((db) =>
    db
      .insert(refreshTokens)
      .select(
        db
          .select({
            hash: sql<string>`${sql.placeholder('tokenHash')}`.as('hash'),
            grantId: codes.grantId,
            clientId: codes.clientId,
            userId: codes.userId,
            scope: codes.scope,
            authTime: codes.authTime,
            parentHash: sql<null>`null`.as('parent_hash'),
            replacedBy: sql<null>`null`.as('replaced_by'),
            usedAt: sql<null>`null`.as('used_at'),
            createdAt: sql<number>`${sql.placeholder('time')}`.as('created_at'),
            expiresAt: sql<number>`${sql.placeholder('expiresAt')}`.as('expires_at'),
            absoluteExpiresAt: sql<number>`${sql.placeholder('absoluteExpiresAt')}`.as('absolute_expires_at'),
          })
          .from(codes)
          .where(
            and(
              eq(codes.hash, sql.placeholder('codeHash')),
              eq(codes.redemption, sql.placeholder('marker')),
              requireOfflineAccess ? sql`instr(' ' || ${codes.scope} || ' ', ' offline_access ') > 0` : undefined,
            ),
          ),
      )
      .prepare(),
  ),
);

function refreshTokenFromCode(requireOfflineAccess: boolean) {
  return refreshTokenFromCodeVariants[requireOfflineAccess ? 1 : 0]!;
}

export type Rotation =
  | { outcome: 'rotated'; previous: RefreshToken; token: string }
  | { outcome: 'invalid' }
  | { outcome: 'reused' }
  | { outcome: 'scope_widened' };

/**
 * Uses a refresh token once and mints its successor, in one D1 round trip:
 * 1. UPDATE marks the token used and names its successor, only if it is
 *    unused, unexpired, the caller's, and covers every requested scope. Of
 *    two concurrent uses exactly one can match (RFC 9700 §4.14.2).
 * 2. INSERT ... SELECT copies it into the successor, only where step 1 named
 *    this request's successor: nothing is minted for a request that lost.
 * 3. The grant records its last use.
 * On failure one read says why; a token that was already used means the
 * family leaked, and its grant is deleted with every token under it.
 */
export async function rotateRefreshToken(db: Db, token: string, clientId: string, requestedScope: string[]): Promise<Rotation> {
  if (requestedScope.length > MAX_REQUESTED_SCOPES) return { outcome: 'scope_widened' };
  const [hash, next] = [await hashSecret(token), randomSecret()];
  const nextHash = await hashSecret(next);
  const time = now();
  const [rotated] = await db.batch([
    bind(useRefreshToken(requestedScope.length)(db), {
      hash,
      clientId,
      nextHash,
      time,
      // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
      ...Object.fromEntries(requestedScope.map((scope, i) => [`scope${i}`, ` ${scope} `])),
    }),
    bind(successorOfRefreshToken(db), { hash, nextHash, time, idleExpiresAt: time + REFRESH_TOKEN_IDLE_TTL }),
    bind(touchGrantOfRefreshToken(db), { nextHash, time }),
  ]);
  const previous = rotated[0];
  if (previous) return { outcome: 'rotated', previous, token: next };

  const row = await db.query.refreshTokens.findFirst({ where: eq(refreshTokens.hash, hash) });
  if (!row) return { outcome: 'invalid' };
  if (row.usedAt !== null) {
    await db.batch([
      db.delete(grants).where(eq(grants.id, row.grantId)),
      auditStatement(db, { type: 'refresh_reuse', userId: row.userId, clientId: row.clientId }),
    ]);
    return { outcome: 'reused' };
  }
  if (row.clientId !== clientId || row.expiresAt <= time || row.absoluteExpiresAt <= time) return { outcome: 'invalid' };
  return { outcome: 'scope_widened' };
}

// Introspection's view of a refresh token: live (unused, unexpired), with the
// user's email for RFC 7662 §2.2 `username`.
const liveRefreshWithEmail = preparedOnce((db) =>
  db
    .select({ token: refreshTokens, email: users.email })
    .from(refreshTokens)
    .leftJoin(users, eq(users.id, refreshTokens.userId))
    .where(
      and(
        eq(refreshTokens.hash, sql.placeholder('hash')),
        isNull(refreshTokens.usedAt),
        gt(refreshTokens.expiresAt, sql.placeholder('now')),
        gt(refreshTokens.absoluteExpiresAt, sql.placeholder('now')),
      ),
    )
    .limit(1)
    .prepare(),
);

// Every refresh runs these three: prepared once (see prepared.ts), the first
// in one variant per number of requested scopes. Requested scopes are unique
// supported tokens (allowedScopes), so there are few variants; a longer list
// asks for more than any grant holds.
const MAX_REQUESTED_SCOPES = SUPPORTED_SCOPES.length;
const useRefreshTokenVariants = new Map<number, (db: Db) => ReturnType<typeof prepareUseRefreshToken>>();

function useRefreshToken(scopeCount: number) {
  let variant = useRefreshTokenVariants.get(scopeCount);
  if (!variant) {
    variant = preparedOnce((db) => prepareUseRefreshToken(db, scopeCount));
    useRefreshTokenVariants.set(scopeCount, variant);
  }
  return variant;
}

/** Step 1 of a rotation: the token is marked used, only if it may be. */
function prepareUseRefreshToken(db: Db, scopeCount: number) {
  // Scope tokens are from the supported set, so exact matching on ' token ' is safe.
  const covers = Array.from(
    { length: scopeCount },
    (_, i) => sql`instr(' ' || ${refreshTokens.scope} || ' ', ${sql.placeholder(`scope${i}`)}) > 0`,
  );
  return db
    .update(refreshTokens)
    .set({ usedAt: sql`${sql.placeholder('time')}`, replacedBy: sql`${sql.placeholder('nextHash')}` })
    .where(
      and(
        eq(refreshTokens.hash, sql.placeholder('hash')),
        eq(refreshTokens.clientId, sql.placeholder('clientId')),
        isNull(refreshTokens.usedAt),
        gt(refreshTokens.expiresAt, sql.placeholder('time')),
        gt(refreshTokens.absoluteExpiresAt, sql.placeholder('time')),
        ...covers,
      ),
    )
    .returning()
    .prepare();
}

/** Step 2: the successor, copied from the token only where step 1 named it. */
const successorOfRefreshToken = preparedOnce((db) =>
  db
    .insert(refreshTokens)
    .select(
      db
        .select({
          hash: sql<string>`${sql.placeholder('nextHash')}`.as('hash'),
          grantId: refreshTokens.grantId,
          clientId: refreshTokens.clientId,
          userId: refreshTokens.userId,
          scope: refreshTokens.scope,
          authTime: refreshTokens.authTime,
          parentHash: refreshTokens.hash,
          replacedBy: sql<null>`null`.as('replaced_by'),
          usedAt: sql<null>`null`.as('used_at'),
          createdAt: sql<number>`${sql.placeholder('time')}`.as('created_at'),
          expiresAt: sql<number>`min(${sql.placeholder('idleExpiresAt')}, ${refreshTokens.absoluteExpiresAt})`.as('expires_at'),
          absoluteExpiresAt: refreshTokens.absoluteExpiresAt,
        })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.hash, sql.placeholder('hash')), eq(refreshTokens.replacedBy, sql.placeholder('nextHash')))),
    )
    .prepare(),
);

/** Step 3: the grant's last use. */
const touchGrantOfRefreshToken = preparedOnce((db) =>
  db
    .update(grants)
    .set({ lastUsedAt: sql`${sql.placeholder('time')}` })
    .where(eq(grants.id, sql`(select grant_id from ${refreshTokens} where hash = ${sql.placeholder('nextHash')})`))
    .prepare(),
);

/** A live refresh token by its hash, with its user's email; unexecuted, for introspection's batch. */
export function liveRefreshTokenQuery(db: Db, hash: string) {
  return bind(liveRefreshWithEmail(db), { hash, now: now() });
}

/**
 * Revokes the family of a client's refresh token (used or not) by deleting
 * its grant: RFC 7009 §2.1 asks that the access tokens of the same grant go too.
 * Returns false when the token is unknown or another client's.
 */
export async function revokeRefreshTokenFamily(db: Db, token: string, clientId: string): Promise<boolean> {
  const row = await db.query.refreshTokens.findFirst({
    where: and(eq(refreshTokens.hash, await hashSecret(token)), eq(refreshTokens.clientId, clientId)),
  });
  if (!row) return false;
  await db.batch([
    db.delete(grants).where(eq(grants.id, row.grantId)),
    auditStatement(db, { type: 'grant_revoked', userId: row.userId, clientId: row.clientId }),
  ]);
  return true;
}
