import { and, eq, gt, isNotNull, isNull, sql } from 'drizzle-orm';
import { CODE_TTL, kvTtl } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { auditStatement } from './audit';
import type { Db } from './db';
import { grantIdSubquery } from './grants';
import { bind, preparedOnce } from './prepared';
import { refreshTokenFromCodeStatement } from './refresh-tokens';
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
type CodeCopy = Pick<Code, 'clientId' | 'redirectUri' | 'codeChallenge' | 'expiresAt'>;

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

export interface Redemption {
  code: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  /** Mint the family's first refresh token with the redemption (its hash; public clients need offline_access). */
  refresh?: { tokenHash: string; requireOfflineAccess: boolean };
}

/**
 * Redeems a code: the one place a code becomes tokens.
 * 1. The KV copy, when this location sees it, turns away a redemption whose
 *    client, redirect URI or PKCE verifier does not match, without a D1 write.
 * 2. D1 decides: one atomic UPDATE ... RETURNING consumes the code only if it
 *    is unredeemed, unexpired and every binding matches. RFC 6749 §4.1.2: a
 *    code is single-use, so of two concurrent redemptions exactly one succeeds.
 * 3. A code that was already redeemed has leaked or been replayed: its grant
 *    is revoked, ending the tokens the first redemption issued (RFC 6749
 *    §4.1.2, RFC 9700 §4.5).
 * Returns the code's row, or null when it cannot be redeemed.
 */
export async function redeemCode(db: Db, kv: KVNamespace, redemption: Redemption): Promise<Code | null> {
  const hash = await hashSecret(redemption.code);
  const copy = await kv.get<CodeCopy>(KV_PREFIX + hash, 'json');
  const mismatch =
    copy !== null &&
    (copy.clientId !== redemption.clientId ||
      copy.redirectUri !== redemption.redirectUri ||
      copy.codeChallenge !== redemption.codeChallenge);
  if (!mismatch) {
    const row = await consume(db, hash, redemption);
    if (row) return row;
  }
  // Refused either way; a code that was already redeemed is a replay, however
  // it is presented, and the same whether or not KV still holds its copy.
  const replayed = await db.query.codes.findFirst({ where: and(eq(codes.hash, hash), isNotNull(codes.redeemedAt)) });
  if (replayed) {
    await db.batch([
      db.delete(grants).where(eq(grants.id, replayed.grantId)),
      auditStatement(db, { type: 'code_replay', userId: replayed.userId, clientId: replayed.clientId }),
    ]);
  }
  return null;
}

/**
 * Consumes a code and does what its redemption implies, in one D1 round trip:
 * the atomic UPDATE (only if every binding matches) marks the code with this
 * request's marker; the grant's last use and the first refresh token follow
 * in the same batch, only where the marker is this request's.
 */
async function consume(db: Db, hash: string, redemption: Redemption): Promise<Code | undefined> {
  const time = now();
  const marker = randomSecret(16);
  const { clientId, redirectUri, codeChallenge } = redemption;
  const update = bind(consumeCode(db), { hash, clientId, redirectUri, codeChallenge, time, marker });
  const touch = bind(touchGrantOfCode(db), { hash, marker, time });
  const refresh = redemption.refresh ? [refreshTokenFromCodeStatement(db, { codeHash: hash, marker, time, ...redemption.refresh })] : [];
  const [rows] = await db.batch([update, touch, ...refresh]);
  return rows[0];
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
