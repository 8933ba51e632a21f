import { and, eq, gt, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import { DEVICE_CODE_SLOW_DOWN_STEP, MAX_RESOURCES_PER_REQUEST, REFRESH_TOKEN_ABSOLUTE_TTL, REFRESH_TOKEN_IDLE_TTL } from '../config';
import { type ClientGuard, clientAuthenticates, clientMayRefresh } from './clients';
import { holdsResources, resourcePlaceholders } from './codes';
import type { Db } from './db';
import { clientDpopSatisfied } from './dpop-proofs';
import { bind, preparedOnce } from './prepared';
import { firstRefreshTokenSelection, holdsOfflineAccess } from './refresh-tokens';
import { auditEvents, type Client, clients, type DeviceAuthorization, deviceAuthorizations, grants, refreshTokens } from './schema';

// Device authorization requests (RFC 8628). Statements only: the service
// (services/device-authorization.ts) decides what shares a D1 batch. The
// poll's statements run on every poll, so they are prepared once (see
// prepared.ts); the rest run once or twice per request and stay builders.

/** The insert of a new request's row; unexecuted. A UNIQUE violation on user_code_hash means the user code was taken. */
export function insertDeviceAuthorizationStatement(db: Db, row: DeviceAuthorization) {
  return db.insert(deviceAuthorizations).values(row);
}

/** Deletes requests that expired before `before` (the Cron Trigger keeps DEVICE_AUTHORIZATION_RETENTION). */
export async function pruneDeviceAuthorizations(db: Db, before: number): Promise<void> {
  await db.delete(deviceAuthorizations).where(lt(deviceAuthorizations.expiresAt, before));
}

/** A request as the /device page sees it: the row and the client it is for. */
export interface DeviceAuthorizationWithClient {
  authorization: DeviceAuthorization;
  client: Client;
}

/** The request a typed user code names (by its hash), with its client; undefined when none does. */
export async function findByUserCode(db: Db, userCodeHash: string): Promise<DeviceAuthorizationWithClient | undefined> {
  const rows = await db
    .select({ authorization: deviceAuthorizations, client: clients })
    .from(deviceAuthorizations)
    .innerJoin(clients, eq(clients.id, deviceAuthorizations.clientId))
    .where(eq(deviceAuthorizations.userCodeHash, userCodeHash))
    .limit(1);
  return rows[0];
}

/** What the user's answer binds: the request, who answers, and the marker that names this answer. */
export interface DecisionInput {
  userCodeHash: string;
  userId: string;
  marker: string;
  time: number;
}

/**
 * Records the user's answer, only while the request is pending and unexpired:
 * an UPDATE ... RETURNING that answers the row, or no rows when it was already
 * answered or has expired. Unexecuted, to share a D1 batch.
 */
export function decideStatement(
  db: Db,
  input: DecisionInput & { status: 'approved' | 'denied'; claims: Record<string, unknown> | null; authTime: number; amr: string[] },
) {
  return db
    .update(deviceAuthorizations)
    .set({
      status: input.status,
      userId: input.userId,
      decision: input.marker,
      claims: input.claims,
      authTime: input.authTime,
      amr: input.amr,
    })
    .where(
      and(
        eq(deviceAuthorizations.userCodeHash, input.userCodeHash),
        eq(deviceAuthorizations.status, 'pending'),
        gt(deviceAuthorizations.expiresAt, input.time),
      ),
    )
    .returning();
}

/** The request's row, only where this answer's marker is on it: every statement after the decision acts only there. */
function decidedHere(input: Pick<DecisionInput, 'userCodeHash' | 'marker'>) {
  return and(eq(deviceAuthorizations.userCodeHash, input.userCodeHash), eq(deviceAuthorizations.decision, input.marker));
}

/**
 * The (user, client) grant an approval widens to `scope` (the caller passes
 * the union of what the user approved before and now), or makes: an INSERT
 * ... SELECT from the request that acts only where this answer's marker is.
 */
export function grantOfDecisionStatement(db: Db, input: DecisionInput & { scope: string }) {
  return db
    .insert(grants)
    .select(
      db
        .select({
          id: sql<string>`${crypto.randomUUID()}`.as('id'),
          userId: deviceAuthorizations.userId,
          clientId: deviceAuthorizations.clientId,
          scope: sql<string>`${input.scope}`.as('scope'),
          createdAt: sql<number>`${input.time}`.as('created_at'),
          updatedAt: sql<number>`${input.time}`.as('updated_at'),
          lastUsedAt: sql<null>`null`.as('last_used_at'),
        })
        .from(deviceAuthorizations)
        .where(decidedHere(input)),
    )
    .onConflictDoUpdate({
      target: [grants.userId, grants.clientId],
      set: { scope: sql`excluded.scope`, updatedAt: sql`excluded.updated_at` },
    });
}

/** Ties an approved request to its grant (made or widened earlier in the batch), where this answer's marker is. */
export function linkGrantOfDecisionStatement(db: Db, input: Pick<DecisionInput, 'userCodeHash' | 'marker'>) {
  return db
    .update(deviceAuthorizations)
    .set({
      grantId: sql`(select ${grants.id} from ${grants} where ${grants.userId} = ${deviceAuthorizations.userId} and ${grants.clientId} = ${deviceAuthorizations.clientId})`,
    })
    .where(decidedHere(input));
}

/** The audit event of an answer, only where this answer's marker is (so no event without the answer). */
export function auditOfDecisionStatement(
  db: Db,
  input: Pick<DecisionInput, 'userCodeHash' | 'marker' | 'time'> & { type: 'consent_granted'; ip: string | null },
) {
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<null>`null`.as('id'),
        at: sql<number>`${input.time}`.as('at'),
        type: sql<'consent_granted'>`${input.type}`.as('type'),
        userId: deviceAuthorizations.userId,
        clientId: deviceAuthorizations.clientId,
        ip: sql<string | null>`${input.ip}`.as('ip'),
        // audit_events.actor_id (migration 0009): the user answered for themselves. An INSERT ... SELECT names every column.
        actorId: sql<null>`null`.as('actor_id'),
      })
      .from(deviceAuthorizations)
      .where(decidedHere(input)),
  );
}

/** What a poll binds: the device code (its hash), the polling client, the instant, and the marker of this poll's redemption. */
export interface PollInput {
  deviceCodeHash: string;
  clientId: string;
  time: number;
  marker: string;
  /** The presented client: the poll redeems or records anything only if it authenticates (storage/clients.ts ClientGuard). */
  guard: ClientGuard;
}

/** The request as it was before this poll (read first in the poll's batch); no rows for an unknown code or another client's. */
export function pollStateQuery(db: Db, input: PollInput) {
  return bind(pollState(db), { deviceCodeHash: input.deviceCodeHash, clientId: input.clientId });
}

/**
 * Redeems an approved request: an UPDATE ... RETURNING that marks it redeemed
 * with `marker` only if it is approved, unredeemed, unexpired, the client's,
 * tied to its grant, and holds every resource the poll names (RFC 8707 §2.2:
 * a token request may only narrow; one that widens leaves the approval
 * unspent). RFC 8628 §3.5 with RFC 6749 §4.1.2's single use: of two
 * concurrent polls exactly one gets the row. Unexecuted, to share a batch.
 */
export function redeemStatement(
  db: Db,
  input: PollInput & { resources: readonly string[]; defaultResources: string; dpopJkt: string | null },
) {
  const { resources, defaultResources, guard, ...bindings } = input;
  const variant = redeemVariants[resources.length];
  // A longer list is refused by the token request's schema (resourceParam) first.
  if (!variant) throw new Error(`at most ${MAX_RESOURCES_PER_REQUEST} resources per poll`);
  return bind(variant(db), { ...bindings, ...guard, ...resourcePlaceholders(resources, defaultResources) });
}

/**
 * Records the poll: `last_polled_at` is now, and a poll sooner than the
 * interval after the last one grows the interval by DEVICE_CODE_SLOW_DOWN_STEP
 * (RFC 8628 §3.5 slow_down: the device must wait longer from then on). SQLite
 * computes every SET from the row as it was, so the test reads the old poll
 * time. Only a poll whose client authenticates is recorded: one that fails
 * must not grow the real device's interval. Unexecuted, to share a batch.
 */
export function recordPollStatement(db: Db, input: PollInput) {
  return bind(recordPoll(db), { ...input.guard, deviceCodeHash: input.deviceCodeHash, clientId: input.clientId, time: input.time });
}

/**
 * The first refresh token of the grant, minted from the request this poll
 * redeemed: an INSERT ... SELECT that acts only where the request bears this
 * poll's marker. With `requireOfflineAccess` (public clients) only when the
 * approved scope holds offline_access, and only for a client registered for
 * refresh_token (as refreshTokenFromCodeStatement).
 */
export function refreshTokenFromDeviceStatement(
  db: Db,
  input: PollInput & { tokenHash: string; requireOfflineAccess: boolean; dpopJkt?: string | null },
) {
  const { time } = input;
  return bind(refreshTokenFromDevice(input.requireOfflineAccess)(db), {
    refreshJkt: input.dpopJkt ?? null,
    deviceCodeHash: input.deviceCodeHash,
    marker: input.marker,
    tokenHash: input.tokenHash,
    time,
    expiresAt: time + Math.min(REFRESH_TOKEN_IDLE_TTL, REFRESH_TOKEN_ABSOLUTE_TTL),
    absoluteExpiresAt: time + REFRESH_TOKEN_ABSOLUTE_TTL,
  });
}

/** Records the grant's last use, only where the request bears this poll's marker. */
export function touchGrantOfDeviceStatement(db: Db, input: PollInput) {
  return bind(touchGrantOfDevice(db), { deviceCodeHash: input.deviceCodeHash, marker: input.marker, time: input.time });
}

/** This poll's request: the device code, and only the client it was issued to. */
const ofPollingClient = and(
  eq(deviceAuthorizations.deviceCodeHash, sql.placeholder('deviceCodeHash')),
  eq(deviceAuthorizations.clientId, sql.placeholder('clientId')),
);

// Every poll runs these: prepared once (see prepared.ts).
const pollState = preparedOnce((db) => db.select().from(deviceAuthorizations).where(ofPollingClient).limit(1).prepare());

// One variant per number of resources the poll names (at most MAX_RESOURCES_PER_REQUEST).
const redeemVariants = Array.from({ length: MAX_RESOURCES_PER_REQUEST + 1 }, (_, resourceCount) =>
  preparedOnce((db) =>
    db
      .update(deviceAuthorizations)
      // Update values take SQL, not a bare placeholder.
      .set({ redeemedAt: sql`${sql.placeholder('time')}`, redemption: sql`${sql.placeholder('marker')}` })
      .where(
        and(
          ofPollingClient,
          eq(deviceAuthorizations.status, 'approved'),
          isNull(deviceAuthorizations.redeemedAt),
          isNotNull(deviceAuthorizations.grantId),
          gt(deviceAuthorizations.expiresAt, sql.placeholder('time')),
          ...holdsResources(deviceAuthorizations.resource, resourceCount),
          // A client that fails to authenticate redeems nothing.
          clientAuthenticates(),
          // RFC 9449 §5.2: a client registered for DPoP-bound tokens redeems only with a proof (dpopJkt).
          clientDpopSatisfied(),
        ),
      )
      .returning()
      .prepare(),
  ),
);

const recordPoll = preparedOnce((db) =>
  db
    .update(deviceAuthorizations)
    .set({
      interval: sql`case when ${deviceAuthorizations.lastPolledAt} is not null and ${sql.placeholder('time')} < ${deviceAuthorizations.lastPolledAt} + ${deviceAuthorizations.interval} then ${deviceAuthorizations.interval} + ${sql.raw(String(DEVICE_CODE_SLOW_DOWN_STEP))} else ${deviceAuthorizations.interval} end`,
      lastPolledAt: sql`${sql.placeholder('time')}`,
    })
    .where(and(ofPollingClient, clientAuthenticates()))
    .prepare(),
);

const refreshTokenFromDeviceVariants = [false, true].map((requireOfflineAccess) =>
  preparedOnce((db) =>
    db
      .insert(refreshTokens)
      .select(
        db
          // RFC 8707 §2.2: the request's resources, not the first token's narrowing of them.
          .select(firstRefreshTokenSelection(deviceAuthorizations))
          .from(deviceAuthorizations)
          .where(
            and(
              eq(deviceAuthorizations.deviceCodeHash, sql.placeholder('deviceCodeHash')),
              eq(deviceAuthorizations.redemption, sql.placeholder('marker')),
              requireOfflineAccess ? holdsOfflineAccess(deviceAuthorizations.scope) : undefined,
              // Only a client registered for refresh_token gets one (grants/issue.ts offersRefreshToken).
              clientMayRefresh(deviceAuthorizations.clientId),
            ),
          ),
      )
      .prepare(),
  ),
);

function refreshTokenFromDevice(requireOfflineAccess: boolean) {
  return refreshTokenFromDeviceVariants[requireOfflineAccess ? 1 : 0]!;
}

const touchGrantOfDevice = preparedOnce((db) =>
  db
    .update(grants)
    .set({ lastUsedAt: sql`${sql.placeholder('time')}` })
    .where(
      eq(
        grants.id,
        sql`(select ${deviceAuthorizations.grantId} from ${deviceAuthorizations} where ${deviceAuthorizations.deviceCodeHash} = ${sql.placeholder('deviceCodeHash')} and ${deviceAuthorizations.redemption} = ${sql.placeholder('marker')})`,
      ),
    )
    .prepare(),
);
