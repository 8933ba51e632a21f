import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { MAX_RESOURCES_PER_REQUEST, REFRESH_TOKEN_ABSOLUTE_TTL, REFRESH_TOKEN_IDLE_TTL, SUPPORTED_SCOPES } from '../config';
import { now } from '../lib/crypto';
import { type ClientGuard, clientAuthenticates, clientMayRefresh } from './clients';
import { holdsResources, resourcePlaceholders } from './codes';
import type { Db } from './db';
import { boundToProofKey, clientDpopSatisfied } from './dpop-proofs';
import { bind, preparedOnce } from './prepared';
import { clients, codes, grants, type RefreshToken, refreshTokens, users } from './schema';

/**
 * The first refresh token of a family, minted from the code a request just
 * redeemed (the code row carries grant, user, scope, resources and auth_time): an INSERT
 * ... SELECT that acts only where the code bears this request's redemption
 * marker. With `requireOfflineAccess` (public clients) it acts only when the
 * code's scope holds offline_access; and only for a client registered for the
 * refresh_token grant.
 */
export function refreshTokenFromCodeStatement(
  db: Db,
  input: { codeHash: string; marker: string; tokenHash: string; time: number; requireOfflineAccess: boolean; dpopJkt?: string | null },
) {
  const { time } = input;
  return bind(refreshTokenFromCode(input.requireOfflineAccess)(db), {
    codeHash: input.codeHash,
    marker: input.marker,
    tokenHash: input.tokenHash,
    refreshJkt: input.dpopJkt ?? null,
    time,
    expiresAt: time + Math.min(REFRESH_TOKEN_IDLE_TTL, REFRESH_TOKEN_ABSOLUTE_TTL),
    absoluteExpiresAt: time + REFRESH_TOKEN_ABSOLUTE_TTL,
  });
}

/** The row a family's first refresh token is minted from (a code, a device authorization): the columns it copies. */
interface MintedFrom {
  grantId: SQLiteColumn;
  clientId: SQLiteColumn;
  userId: SQLiteColumn;
  scope: SQLiteColumn;
  resource: SQLiteColumn;
  authTime: SQLiteColumn;
  /** How the user signed in (RFC 8176); null (a device authorization's before its answer) reads as a password. */
  amr: SQLiteColumn;
}

/**
 * The columns of a family's first refresh token for an INSERT ... SELECT from
 * the row it is minted from; hash, times and DPoP binding are placeholders
 * (tokenHash, time, expiresAt, absoluteExpiresAt, refreshJkt: the key a public
 * client's family is bound to, RFC 9449 §5, or null).
 */
export function firstRefreshTokenSelection(from: MintedFrom) {
  return {
    hash: sql<string>`${sql.placeholder('tokenHash')}`.as('hash'),
    grantId: sql<string>`${from.grantId}`.as('grant_id'),
    clientId: sql<string>`${from.clientId}`.as('client_id'),
    userId: sql<string>`${from.userId}`.as('user_id'),
    scope: sql<string>`${from.scope}`.as('scope'),
    resource: sql<string | null>`${from.resource}`.as('resource'),
    authTime: sql<number>`${from.authTime}`.as('auth_time'),
    amr: sql<string>`coalesce(${from.amr}, '["pwd"]')`.as('amr'),
    parentHash: sql<null>`null`.as('parent_hash'),
    replacedBy: sql<null>`null`.as('replaced_by'),
    usedAt: sql<null>`null`.as('used_at'),
    createdAt: sql<number>`${sql.placeholder('time')}`.as('created_at'),
    expiresAt: sql<number>`${sql.placeholder('expiresAt')}`.as('expires_at'),
    absoluteExpiresAt: sql<number>`${sql.placeholder('absoluteExpiresAt')}`.as('absolute_expires_at'),
    dpopJkt: sql<string | null>`${sql.placeholder('refreshJkt')}`.as('dpop_jkt'),
  };
}

/** SQL: a space-delimited scope column holds offline_access (OIDC Core §11). */
export function holdsOfflineAccess(scope: SQLiteColumn) {
  return sql`instr(' ' || ${scope} || ' ', ' offline_access ') > 0`;
}

// Every redemption with offline access runs one of these two: prepared once (see prepared.ts).
const refreshTokenFromCodeVariants = [false, true].map((requireOfflineAccess) =>
  preparedOnce((db) =>
    db
      .insert(refreshTokens)
      .select(
        db
          // RFC 8707 §2.2: the code's resources, not the first token's narrowing of them.
          .select(firstRefreshTokenSelection(codes))
          .from(codes)
          .where(
            and(
              eq(codes.hash, sql.placeholder('codeHash')),
              eq(codes.redemption, sql.placeholder('marker')),
              requireOfflineAccess ? holdsOfflineAccess(codes.scope) : undefined,
              // Only a client registered for refresh_token gets one (grants/issue.ts offersRefreshToken).
              clientMayRefresh(codes.clientId),
            ),
          ),
      )
      .prepare(),
  ),
);

function refreshTokenFromCode(requireOfflineAccess: boolean) {
  return refreshTokenFromCodeVariants[requireOfflineAccess ? 1 : 0]!;
}

// Every refresh reads the token as it was, in its batch: prepared once (see prepared.ts).
const refreshTokenByHash = preparedOnce((db) =>
  db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.hash, sql.placeholder('hash')))
    .limit(1)
    .prepare(),
);

/** A refresh token's row by its hash as it is before a rotation's writes (why one failed); unexecuted, to share its D1 batch. */
export function refreshTokenQuery(db: Db, hash: string) {
  return bind(refreshTokenByHash(db), { hash });
}

/** A client's refresh token by its hash (used or not), or undefined when it is unknown or another client's. */
export async function findRefreshTokenOfClient(db: Db, hash: string, clientId: string): Promise<RefreshToken | undefined> {
  return db.query.refreshTokens.findFirst({ where: and(eq(refreshTokens.hash, hash), eq(refreshTokens.clientId, clientId)) });
}

/** What one use of a refresh token binds: the token, its client, its successor's hash, the instant and the scopes asked for. */
export interface UseInput {
  hash: string;
  clientId: string;
  nextHash: string;
  time: number;
  /** Scope tokens from the supported set, at most `MAX_REQUESTED_SCOPES`; empty keeps the whole scope. */
  requestedScope: string[];
  /** Resources asked for (RFC 8707 §2.2), known ones, at most MAX_RESOURCES_PER_REQUEST; each must be one the token holds. */
  requestedResources: readonly string[];
  /** What a token with no `resource` (null) holds: the default resource list, as JSON. */
  defaultResources: string;
  /** The presented client: the token is used only if it authenticates (storage/clients.ts ClientGuard). */
  guard: ClientGuard;
  /** The thumbprint of the request's DPoP proof key (RFC 9449), or null when it sent no proof. */
  dpopJkt: string | null;
}

/**
 * Marks a refresh token used and names its successor, only if it is unused,
 * unexpired, the client's, covers every requested scope and resource, each
 * requested scope is one the client may still request, and the presented
 * client authenticates: an UPDATE ... RETURNING that answers the token's row,
 * or no rows. Unexecuted, to share a D1 batch.
 */
export function useRefreshTokenStatement(db: Db, input: UseInput) {
  const { hash, clientId, nextHash, time, requestedScope, requestedResources, defaultResources, guard, dpopJkt } = input;
  return bind(useRefreshToken(requestedScope.length, requestedResources.length)(db), {
    ...guard,
    dpopJkt,
    hash,
    clientId,
    nextHash,
    time,
    ...Object.fromEntries(requestedScope.map((scope, i) => [`scope${i}`, ` ${scope} `])),
    ...resourcePlaceholders(requestedResources, defaultResources),
  });
}

/**
 * The successor a use named, copied from the used token (grant, user, scope,
 * auth_time, absolute expiry, DPoP key), only where `useRefreshTokenStatement`
 * named `nextHash`: nothing is minted for a request whose use did not match.
 * `dpopJkt`: the request's proof key (null: no proof), which binds a public
 * client's successor when the used token was unbound.
 */
export function successorOfRefreshTokenStatement(db: Db, input: { hash: string; nextHash: string; time: number; dpopJkt: string | null }) {
  const { time } = input;
  return bind(successorOfRefreshToken(db), { ...input, idleExpiresAt: time + REFRESH_TOKEN_IDLE_TTL });
}

/** Records the grant's last use, through the successor `nextHash` (so only where it was minted). */
export function touchGrantOfRefreshTokenStatement(db: Db, input: { nextHash: string; time: number }) {
  return bind(touchGrantOfRefreshToken(db), input);
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

/**
 * The most scopes one use may ask for: requested scopes are unique supported
 * tokens (allowedScopes), so a longer list asks for more than any grant holds.
 */
export const MAX_REQUESTED_SCOPES = SUPPORTED_SCOPES.length;

// Every refresh runs these three: prepared once (see prepared.ts), the first
// in one variant per number of requested scopes and resources, so there are few variants.
const useRefreshTokenVariants = new Map<string, (db: Db) => ReturnType<typeof prepareUseRefreshToken>>();

function useRefreshToken(scopeCount: number, resourceCount: number) {
  // The bound on the number of variants the map may hold.
  if (scopeCount > MAX_REQUESTED_SCOPES) throw new RangeError(`at most ${MAX_REQUESTED_SCOPES} requested scopes`);
  if (resourceCount > MAX_RESOURCES_PER_REQUEST) throw new RangeError(`at most ${MAX_RESOURCES_PER_REQUEST} requested resources`);
  const key = `${scopeCount} ${resourceCount}`;
  let variant = useRefreshTokenVariants.get(key);
  if (!variant) {
    variant = preparedOnce((db) => prepareUseRefreshToken(db, scopeCount, resourceCount));
    useRefreshTokenVariants.set(key, variant);
  }
  return variant;
}

/** Step 1 of a rotation: the token is marked used, only if it may be. */
function prepareUseRefreshToken(db: Db, scopeCount: number, resourceCount: number) {
  // Scope tokens are from the supported set, so exact matching on ' token ' is safe.
  const covers = Array.from(
    { length: scopeCount },
    (_, i) => sql`instr(' ' || ${refreshTokens.scope} || ' ', ${sql.placeholder(`scope${i}`)}) > 0`,
  );
  // allowedScopes' rule, in SQL: a client registered with a scope (null: any)
  // may request only scopes within it, even one its older grant holds.
  const clientMayAsk = Array.from(
    { length: scopeCount },
    (_, i) =>
      sql`coalesce(instr(' ' || (select clients.scope from clients where clients.id = ${sql.placeholder('clientId')}) || ' ', ${sql.placeholder(`scope${i}`)}), 1) > 0`,
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
        ...clientMayAsk,
        // RFC 8707 §2.2: a refresh may narrow the resources, never widen them.
        ...holdsResources(refreshTokens.resource, resourceCount),
        // A client that fails to authenticate spends nothing: the token is not rotated.
        clientAuthenticates(),
        // RFC 9449 §5: a bound family rotates only with a proof by its key; §5.2: a client registered for DPoP-bound tokens needs a proof.
        boundToProofKey(refreshTokens.dpopJkt),
        clientDpopSatisfied(),
      ),
    )
    .returning()
    .prepare();
}

/**
 * The successor's DPoP key: its family's, if bound (RFC 9449 §5); else, for a
 * public client, the key of the request's proof (placeholder `dpopJkt`, null
 * without one): a refresh token issued to a public client in answer to a
 * DPoP proof is bound to that key (§5), even when its family began unbound.
 */
const usedByPublicClient = sql`(select ${clients.tokenEndpointAuthMethod} from ${clients} where ${clients.id} = ${refreshTokens.clientId}) = 'none'`;
const successorKey = sql<
  string | null
>`coalesce(${refreshTokens.dpopJkt}, case when ${usedByPublicClient} then ${sql.placeholder('dpopJkt')} end)`;

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
          // Every rotation keeps the grant's resources, whatever one refresh narrowed to.
          resource: refreshTokens.resource,
          authTime: refreshTokens.authTime,
          // How the user signed in: the family keeps the first sign-in's amr, as it keeps auth_time (OIDC Core §12.2).
          amr: refreshTokens.amr,
          parentHash: refreshTokens.hash,
          replacedBy: sql<null>`null`.as('replaced_by'),
          usedAt: sql<null>`null`.as('used_at'),
          createdAt: sql<number>`${sql.placeholder('time')}`.as('created_at'),
          expiresAt: sql<number>`min(${sql.placeholder('idleExpiresAt')}, ${refreshTokens.absoluteExpiresAt})`.as('expires_at'),
          absoluteExpiresAt: refreshTokens.absoluteExpiresAt,
          // RFC 9449 §5: the family stays bound to its key (see successorKey).
          dpopJkt: successorKey.as('dpop_jkt'),
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
