import type { BatchItem } from 'drizzle-orm/batch';
import type { Deps } from '../deps';
import { insertClientAssertionStatement, isAssertionReplay } from '../storage/client-assertions';
import type { ClientGuard } from '../storage/clients';
import type { Db } from '../storage/db';
import type { Client } from '../storage/schema';
import type { ClientAssertionRow } from './client-keys';

// Client authentication inside a grant's own D1 batch (issue 16: one primary
// round trip per token request). The token route parses what the client
// presented without reading D1 (middleware/client-auth.ts pendingClient); the
// grant's batch reads the client's row first, every write in it acts only
// where the client authenticates in SQL (storage/clients.ts
// clientAuthenticates), and after the batch the row is checked again in
// TypeScript with the rules authenticateClient has always used (method,
// secret, the failed-authentication limit, registered grant type), which
// answer the errors. A request whose client fails therefore spends nothing: no
// code consumed, no refresh token rotated, no device code redeemed or poll
// recorded.

/** The client's row as a grant's batch read it, with whether the batch's guard held for it (storage/clients.ts guardedClientQuery). */
export interface GuardedClientRow {
  client: Client;
  /** 1 when the row authenticates the presented credentials for the grant type, in SQL: the batch's writes acted. */
  authenticated: number;
}

/** A token request's client as it presented itself, not yet authenticated (middleware/client-auth.ts pendingClient). */
export interface PendingClient {
  readonly id: string;
  /** The method it presented; a client that authenticates was registered with it, so `none` means a public client. */
  readonly method: Client['tokenEndpointAuthMethod'];
  /** What the batch's guard binds. */
  readonly guard: ClientGuard;
  /**
   * Checks the row the batch read (undefined: none) as authenticateClient
   * does, and that the client is registered for the grant type: throws
   * invalid_client (401), too_many_requests (429) past the failed-
   * authentication limit, or unauthorized_client. A stale client ID metadata
   * document row is fetched afresh here.
   */
  check(row: GuardedClientRow | undefined): Promise<Client>;
  /** Authenticates the client on its own (one D1 read), for a request refused before its batch; throws as `check`. */
  authenticate(): Promise<Client>;
  /**
   * Runs a check of the request made before the batch; when it refuses the
   * request, the client is authenticated first, so client errors still come
   * before request errors (RFC 6749 §5.2).
   */
  precheck<T>(check: () => T): Promise<T>;
  /**
   * The writes the grant's batch must carry for this client: for
   * `private_key_jwt` the INSERT that spends the assertion's `jti` (RFC 7523
   * §3; storage/client-assertions.ts), so a replay fails the batch whole and
   * spends nothing; none for the other methods, or once `authenticate` spent it.
   */
  writes(db: Db): BatchItem<'sqlite'>[];
  /** Answers a failed batch: a replayed assertion is invalid_client (401, counted); any other error is thrown on. */
  batchFailed(error: unknown): Promise<never>;
}

/**
 * Runs a grant's batch (`run`, whose `clientRow` is its first statement's
 * row) and authenticates the client from it. When TypeScript accepts what
 * the SQL guard refused, the row was a client ID metadata document's gone
 * stale, which `check` has just fetched afresh: nothing was written, and the
 * batch runs once more, now over the fresh row (the one extra round trip,
 * only then). Returns the authenticated client with the batch's results.
 */
export async function inClientBatch<T extends { clientRow: GuardedClientRow | undefined }>(
  pending: PendingClient,
  run: () => Promise<T>,
): Promise<T & { client: Client }> {
  for (let attempt = 1; ; attempt++) {
    let ran: T;
    try {
      ran = await run();
    } catch (error) {
      return pending.batchFailed(error);
    }
    const client = await pending.check(ran.clientRow);
    if (ran.clientRow?.authenticated === 1) return { ...ran, client };
    // The fetched document was just stored, so a second run sees it fresh.
    if (attempt === 2) throw new Error('client authentication in SQL and in TypeScript disagree');
  }
}

/**
 * The INSERT that spends a `private_key_jwt` client's assertion (RFC 7523 §3
 * item 7), for a grant's batch: a replay violates its primary key and fails
 * the batch whole (`isReplayedAssertion` tells that failure apart).
 */
export function spendAssertionStatement(db: Db, row: ClientAssertionRow): BatchItem<'sqlite'> {
  return insertClientAssertionStatement(db, row);
}

/** Spends the assertion on its own (one D1 write), for a grant with no batch: false when it was spent before (a replay). */
export async function spendAssertionAlone(deps: Deps, row: ClientAssertionRow): Promise<boolean> {
  try {
    await insertClientAssertionStatement(deps.db, row);
    return true;
  } catch (error) {
    if (isAssertionReplay(error)) return false;
    throw error;
  }
}

/** Whether a grant's batch failed because the assertion it spent was spent before (storage/client-assertions.ts). */
export function isReplayedAssertion(error: unknown): boolean {
  return isAssertionReplay(error);
}
