import { and, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { type PushedRequest, pushedRequests } from './schema';

// Pushed authorization requests (RFC 9126). Statements only: the services
// (services/pushed-requests.ts, services/authorization.ts) decide what shares
// a D1 batch. The consuming UPDATE runs in the authorization endpoint's lookup
// batch, so it is prepared once (see prepared.ts); the rest stay builders.

/** The insert of a pushed request's row; unexecuted, to share a D1 batch. */
export function insertPushedRequestStatement(db: Db, row: PushedRequest) {
  return db.insert(pushedRequests).values(row);
}

/**
 * The delete of the client's pushed requests that expired before `before`;
 * unexecuted, to share the batch of a new push. A public client's id is no
 * secret, so anyone may push for it: each push clears that client's expired
 * rows, and the Cron Trigger the rest.
 */
export function deleteExpiredOfClientStatement(db: Db, clientId: string, before: number) {
  return db.delete(pushedRequests).where(and(eq(pushedRequests.clientId, clientId), lt(pushedRequests.expiresAt, before)));
}

/**
 * The delete of every pushed request of a client not yet used; unexecuted, to
 * share the batch of a registration update (RFC 7592 §2.2): a request checked
 * against the old metadata must not be used under the new.
 */
export function deleteUnusedOfClientStatement(db: Db, clientId: string) {
  return db.delete(pushedRequests).where(and(eq(pushedRequests.clientId, clientId), isNull(pushedRequests.usedAt)));
}

// The authorization endpoint runs this for every pushed request: prepared once.
const consumePushedRequest = preparedOnce((db) =>
  db
    .update(pushedRequests)
    .set({ usedAt: sql`${sql.placeholder('time')}` })
    .where(
      and(
        eq(pushedRequests.hash, sql.placeholder('hash')),
        // RFC 9126 §4 with RFC 9101 §5: the request_uri is the client's own.
        eq(pushedRequests.clientId, sql.placeholder('clientId')),
        isNull(pushedRequests.usedAt),
        gt(pushedRequests.expiresAt, sql.placeholder('time')),
      ),
    )
    .returning({ parameters: pushedRequests.parameters })
    .prepare(),
);

/**
 * Consumes a pushed request: an UPDATE ... RETURNING that marks it used only
 * if it is the client's, unused and unexpired (RFC 9126 §4: "An expired
 * request_uri MUST be rejected as invalid"; one-time use). It answers the
 * request's parameters, or no rows. Two concurrent uses cannot both win: D1
 * runs the UPDATE atomically. Unexecuted, to share a D1 batch.
 */
export function consumePushedRequestStatement(db: Db, input: { hash: string; clientId: string; time: number }) {
  return bind(consumePushedRequest(db), input);
}

/** The parameters a consumed row answered, or null when no row was consumed. */
export function consumedParameters(rows: readonly Pick<PushedRequest, 'parameters'>[]): PushedRequest['parameters'] | null {
  return rows[0]?.parameters ?? null;
}

/** Deletes pushed requests that expired before `before` (the Cron Trigger). */
export async function prunePushedRequests(db: Db, before: number): Promise<void> {
  await db.delete(pushedRequests).where(lt(pushedRequests.expiresAt, before));
}
