import { and, eq, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { type ClientGuard, clientAuthenticates } from './clients';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { clients, dpopProofs } from './schema';

// The replay state of DPoP proofs (RFC 9449 §11.1): a proof is accepted once,
// by the request whose statement inserted its row. Single use must be decided
// atomically, which KV (eventually consistent) cannot do, so it is a D1 row
// written in the same batch as the request's own statements: no round trip of
// its own, but that batch must run at the primary.

/** What a proof's row holds (services/dpop.ts DpopProof). */
export interface ProofRow {
  replayHash: string;
  expiresAt: number;
}

// Every DPoP call at a resource runs this: prepared once (see prepared.ts).
const recordProof = preparedOnce((db) =>
  db
    .insert(dpopProofs)
    .values({ hash: sql.placeholder('proofHash'), expiresAt: sql.placeholder('proofExpiresAt') })
    .onConflictDoNothing()
    .returning({ hash: dpopProofs.hash })
    .prepare(),
);

/**
 * At a resource: records the proof, answering its row when this request is
 * the first to present it and no row when it was seen before (a replay).
 * Unexecuted, to join the bearer check's batch; the caller drops whatever
 * else the batch read when it answers no row.
 */
export function recordProofStatement(db: Db, proof: ProofRow) {
  return bind(recordProof(db), { proofHash: proof.replayHash, proofExpiresAt: proof.expiresAt });
}

// Every DPoP token request runs this: prepared once (see prepared.ts).
const recordProofOfClient = preparedOnce((db) =>
  db
    .insert(dpopProofs)
    .select(
      db
        .select({
          hash: sql<string>`${sql.placeholder('proofHash')}`.as('hash'),
          expiresAt: sql<number>`${sql.placeholder('proofExpiresAt')}`.as('expires_at'),
        })
        .from(clients)
        .where(and(eq(clients.id, sql.placeholder('guardClientId')), clientAuthenticates())),
    )
    .prepare(),
);

/**
 * At the token endpoint: records the proof where the presented client
 * authenticates (a failed authentication stores nothing, and a batch run
 * again over a refetched client document does not meet its own row). No
 * ON CONFLICT: a proof seen before fails the statement, and with it the
 * whole batch, so a replayed proof spends no code, rotates no refresh token
 * and records no poll (`isProofReplay` tells that failure apart).
 */
export function recordProofOfClientStatement(db: Db, proof: ProofRow, guard: ClientGuard) {
  return bind(recordProofOfClient(db), { ...guard, proofHash: proof.replayHash, proofExpiresAt: proof.expiresAt });
}

/** Whether a batch failed because `recordProofOfClientStatement` met a proof already recorded. */
export function isProofReplay(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error && /UNIQUE constraint failed: dpop_proofs\.hash/i.test(current.message)) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/**
 * SQL for a token request's writing statement: the request satisfies the
 * client's DPoP registration (RFC 9449 §5.2 `dpop_bound_access_tokens`): it
 * carries a proof (`dpopJkt`, its key's thumbprint, is not null), or the
 * presented client (`guardClientId`) did not ask for DPoP-bound tokens only.
 * Checked in the batch, so a request refused for it spends nothing.
 */
export function clientDpopSatisfied() {
  return sql`(${sql.placeholder('dpopJkt')} is not null or not exists (select 1 from clients where clients.id = ${sql.placeholder('guardClientId')} and clients.dpop_bound_access_tokens = 1))`;
}

/**
 * SQL: a code or refresh token bound to a DPoP key (its `dpop_jkt`, RFC 9449
 * §10 and §5) is used only with a proof by that key (`dpopJkt`); an unbound
 * one with or without a proof.
 */
export function boundToProofKey(column: SQLiteColumn) {
  return sql`(${column} is null or ${column} = ${sql.placeholder('dpopJkt')})`;
}
