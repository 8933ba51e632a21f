import { and, eq, gt, isNotNull, isNull, sql } from 'drizzle-orm';
import { CODE_TTL, kvTtl } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import type { Db } from './db';
import { grantIdSubquery } from './grants';
import { bind, preparedOnce } from './prepared';
import { type Code, codes, grants } from './schema';

/** KV key prefix of a code's short-lived copy; the rest of the key is the code's hash. */
const KV_PREFIX = 'code:';

export interface CodeRequest {
  /** The authorization request this code answers: at most one code per request. */
  requestId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  nonce: string | null;
  /** The user's claims for the ID token, by the granted scope. */
  claims: Record<string, unknown> | null;
  authTime: number;
}

/** What the KV copy holds: enough to turn away a mismatched redemption early. */
export type CodeCopy = Pick<Code, 'clientId' | 'redirectUri' | 'codeChallenge' | 'expiresAt'>;

/**
 * Mints a code (256 bits) and returns it with the insert statement for its D1
 * row, bound to the (user, client) grant. The caller runs the statement in the
 * same batch as the grant upsert, then calls `copyCodeToKv`.
 */
export async function prepareCode(db: Db, request: CodeRequest) {
  const code = randomSecret();
  const { requestId, ...fields } = request;
  const [hash, requestHash] = await Promise.all([hashSecret(code), hashSecret(requestId)]);
  const time = now();
  const expiresAt = time + CODE_TTL;
  return { code, hash, expiresAt, insert: bind(insertCode(db), { hash, requestHash, ...fields, expiresAt, createdAt: time }) };
}

// Every code issued runs this: prepared once (see prepared.ts). The code
// belongs to the (user, client) grant upserted in the same batch.
const insertCode = preparedOnce((db) =>
  db
    .insert(codes)
    .values({
      hash: sql.placeholder('hash'),
      grantId: grantIdSubquery(sql.placeholder('userId'), sql.placeholder('clientId')),
      requestHash: sql.placeholder('requestHash'),
      clientId: sql.placeholder('clientId'),
      userId: sql.placeholder('userId'),
      redirectUri: sql.placeholder('redirectUri'),
      codeChallenge: sql.placeholder('codeChallenge'),
      scope: sql.placeholder('scope'),
      nonce: sql.placeholder('nonce'),
      claims: sql.placeholder('claims'),
      authTime: sql.placeholder('authTime'),
      expiresAt: sql.placeholder('expiresAt'),
      redeemedAt: null,
      createdAt: sql.placeholder('createdAt'),
    })
    .prepare(),
);

/**
 * Keeps a copy of the code's checkable fields in KV for its lifetime. KV is
 * only a fast pre-check: it is eventually consistent (a write may stay
 * invisible elsewhere for up to 60 s), so it never decides that a code is valid.
 */
export async function copyCodeToKv(kv: KVNamespace, hash: string, copy: CodeCopy): Promise<void> {
  await kv.put(KV_PREFIX + hash, JSON.stringify(copy), { expirationTtl: kvTtl(CODE_TTL) });
}

/** The KV copy of a code by its hash, when this location sees it (a fast pre-check only, see `copyCodeToKv`). */
export async function codeCopy(kv: KVNamespace, hash: string): Promise<CodeCopy | null> {
  return kv.get<CodeCopy>(KV_PREFIX + hash, 'json');
}

/** What a redemption must match, with its instant and the marker that names this request's redemption. */
export interface ConsumeInput {
  hash: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  time: number;
  marker: string;
}

/**
 * Consumes a code: an UPDATE ... RETURNING that marks it redeemed with
 * `marker` only if it is unredeemed, unexpired and every binding matches;
 * it answers the code's row, or no rows. Unexecuted, to share a D1 batch.
 */
export function consumeCodeStatement(db: Db, input: ConsumeInput) {
  return bind(consumeCode(db), { ...input });
}

/** Records the grant's last use, only where the code bears `marker`; unexecuted, to share a D1 batch. */
export function touchGrantOfCodeStatement(db: Db, input: { hash: string; marker: string; time: number }) {
  return bind(touchGrantOfCode(db), input);
}

/** The code by its hash if it was already redeemed, or undefined. */
export async function findRedeemedCode(db: Db, hash: string): Promise<Code | undefined> {
  return db.query.codes.findFirst({ where: and(eq(codes.hash, hash), isNotNull(codes.redeemedAt)) });
}

// Every redemption runs these: prepared once (see prepared.ts).
const consumeCode = preparedOnce((db) =>
  db
    .update(codes)
    // Update values take SQL, not a bare placeholder.
    .set({ redeemedAt: sql`${sql.placeholder('time')}`, redemption: sql`${sql.placeholder('marker')}` })
    .where(
      and(
        eq(codes.hash, sql.placeholder('hash')),
        eq(codes.clientId, sql.placeholder('clientId')),
        eq(codes.redirectUri, sql.placeholder('redirectUri')),
        eq(codes.codeChallenge, sql.placeholder('codeChallenge')),
        isNull(codes.redeemedAt),
        gt(codes.expiresAt, sql.placeholder('time')),
      ),
    )
    .returning()
    .prepare(),
);

/** The grant's last use, only where the code bears this request's marker. */
const touchGrantOfCode = preparedOnce((db) =>
  db
    .update(grants)
    .set({ lastUsedAt: sql`${sql.placeholder('time')}` })
    .where(
      eq(
        grants.id,
        sql`(select ${codes.grantId} from ${codes} where ${codes.hash} = ${sql.placeholder('hash')} and ${codes.redemption} = ${sql.placeholder('marker')})`,
      ),
    )
    .prepare(),
);
