import { and, eq, gt, isNotNull, isNull, type SQL, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { CODE_TTL, MAX_RESOURCES_PER_REQUEST } from '../config';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { type ClientGuard, clientAuthenticates } from './clients';
import type { Db } from './db';
import { boundToProofKey, clientDpopSatisfied } from './dpop-proofs';
import { grantIdSubquery } from './grants';
import { bind, preparedOnce } from './prepared';
import { type Code, codes, grants } from './schema';

export interface CodeRequest {
  /** The authorization request this code answers: at most one code per request. */
  requestId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  /** RFC 8707 resources asked for; null: the default (the books API). */
  resource: string[] | null;
  nonce: string | null;
  /** The user's claims for the ID token, by the granted scope. */
  claims: Record<string, unknown> | null;
  authTime: number;
  /** How the user signed in (RFC 8176 `amr`, from the session), for the ID token. */
  amr: string[];
  /**
   * When consent was remembered: the id of the grant it was remembered from,
   * which the code then belongs to. That grant may have been read at a
   * replica and revoked since; the code's foreign key then fails the insert
   * (isForeignKeyViolation) rather than anything making the grant again.
   * Absent: the code belongs to the (user, client) grant upserted in the same
   * batch.
   */
  grantId?: string;
  /** RFC 9449 §10 `dpop_jkt` of the request: the code is redeemed only with a proof by that key; null: none. */
  dpopJkt?: string | null;
}

/**
 * Mints a code (256 bits) and returns it with the insert statement for its D1
 * row, bound to its grant (CodeRequest.grantId). The caller runs the
 * statement in the same batch as the grant upsert, if any.
 */
export async function prepareCode(db: Db, request: CodeRequest) {
  const code = randomSecret();
  const { requestId, resource, grantId, dpopJkt, ...fields } = request;
  const [hash, requestHash] = await Promise.all([hashSecret(code), hashSecret(requestId)]);
  const time = now();
  const expiresAt = time + CODE_TTL;
  return {
    code,
    hash,
    expiresAt,
    insert: bind(grantId === undefined ? insertCode(db) : insertCodeUnderGrant(db), {
      hash,
      requestHash,
      ...fields,
      ...(grantId === undefined ? {} : { grantId }),
      resourceJson: resource === null ? null : JSON.stringify(resource),
      dpopJkt: dpopJkt ?? null,
      expiresAt,
      createdAt: time,
    }),
  };
}

// Every code issued runs one of these: prepared once (see prepared.ts). The
// code belongs to the (user, client) grant upserted in the same batch, or to
// the remembered grant named by id.
const insertCode = preparedOnce((db) => insertCodeInto(db, grantIdSubquery(sql.placeholder('userId'), sql.placeholder('clientId'))));
const insertCodeUnderGrant = preparedOnce((db) => insertCodeInto(db, sql`${sql.placeholder('grantId')}`));

function insertCodeInto(db: Db, grantId: SQL) {
  return db
    .insert(codes)
    .values({
      hash: sql.placeholder('hash'),
      grantId,
      requestHash: sql.placeholder('requestHash'),
      clientId: sql.placeholder('clientId'),
      userId: sql.placeholder('userId'),
      redirectUri: sql.placeholder('redirectUri'),
      codeChallenge: sql.placeholder('codeChallenge'),
      scope: sql.placeholder('scope'),
      // Bound as prepared JSON text (or SQL null): a bare placeholder would be
      // mapped through the JSON column, which stores a null as the text 'null'.
      resource: sql`${sql.placeholder('resourceJson')}`,
      nonce: sql.placeholder('nonce'),
      claims: sql.placeholder('claims'),
      authTime: sql.placeholder('authTime'),
      amr: sql.placeholder('amr'),
      expiresAt: sql.placeholder('expiresAt'),
      redeemedAt: null,
      createdAt: sql.placeholder('createdAt'),
      dpopJkt: sql`${sql.placeholder('dpopJkt')}`,
    })
    .prepare();
}

/** What a redemption must match, with its instant and the marker that names this request's redemption. */
export interface ConsumeInput {
  hash: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  time: number;
  marker: string;
  /**
   * Resources the token request names (RFC 8707 §2.2), each one the code must
   * hold, at most MAX_RESOURCES_PER_REQUEST; empty asks for none.
   */
  resources: readonly string[];
  /** What a code with no `resource` (null) holds: the default resource list, as JSON. */
  defaultResources: string;
  /** The presented client: the code is consumed only if it authenticates (storage/clients.ts ClientGuard). */
  guard: ClientGuard;
  /** The thumbprint of the request's DPoP proof key (RFC 9449), or null when it sent no proof. */
  dpopJkt: string | null;
}

/**
 * Consumes a code: an UPDATE ... RETURNING that marks it redeemed with
 * `marker` only if it is unredeemed, unexpired, every binding matches, it
 * holds every resource asked for and the presented client authenticates; it
 * answers the code's row, or no rows. Unexecuted, to share a D1 batch.
 */
export function consumeCodeStatement(db: Db, input: ConsumeInput) {
  const { resources, defaultResources, guard, ...bindings } = input;
  return bind(consumeCode(resources.length)(db), { ...bindings, ...guard, ...resourcePlaceholders(resources, defaultResources) });
}

/**
 * The placeholders of `holdsResources`: each resource as its JSON string
 * (quoted), searched for in the JSON list a row holds.
 */
export function resourcePlaceholders(resources: readonly string[], defaultResources: string): Record<string, string> {
  return { defaultResources, ...Object.fromEntries(resources.map((resource, i) => [`resource${i}`, JSON.stringify(resource)])) };
}

/**
 * SQL conditions: `column` (a JSON list of resource URIs, null for the
 * default list) holds each of `count` resources. A resource a request may
 * name is one of the issuer's known URIs (services/resources.ts checks that
 * first), which hold no quote or backslash, so finding `"<uri>"` in the list's
 * JSON is an exact element match.
 */
export function holdsResources(column: SQLiteColumn, count: number): SQL[] {
  return Array.from(
    { length: count },
    (_, i) => sql`instr(coalesce(${column}, ${sql.placeholder('defaultResources')}), ${sql.placeholder(`resource${i}`)}) > 0`,
  );
}

/** Records the grant's last use, only where the code bears `marker`; unexecuted, to share a D1 batch. */
export function touchGrantOfCodeStatement(db: Db, input: { hash: string; marker: string; time: number }) {
  return bind(touchGrantOfCode(db), input);
}

/** The code by its hash if it was already redeemed, or undefined. */
export async function findRedeemedCode(db: Db, hash: string): Promise<Code | undefined> {
  return db.query.codes.findFirst({ where: and(eq(codes.hash, hash), isNotNull(codes.redeemedAt)) });
}

// Every redemption reads the code as it was, in its batch: prepared once (see prepared.ts).
const codeByHash = preparedOnce((db) =>
  db
    .select()
    .from(codes)
    .where(eq(codes.hash, sql.placeholder('hash')))
    .limit(1)
    .prepare(),
);

/** The code by its hash as it is before a redemption's writes (why one failed); unexecuted, to share its D1 batch. */
export function codeQuery(db: Db, hash: string) {
  return bind(codeByHash(db), { hash });
}

// Every redemption runs one of these: prepared once (see prepared.ts), one
// variant per number of resources asked for (at most MAX_RESOURCES_PER_REQUEST).
const consumeCodeVariants = Array.from({ length: MAX_RESOURCES_PER_REQUEST + 1 }, (_, resourceCount) =>
  preparedOnce((db) =>
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
          ...holdsResources(codes.resource, resourceCount),
          // A client that fails to authenticate spends nothing (RFC 6749 §4.1.3: the code is the authenticated client's).
          clientAuthenticates(),
          // RFC 9449 §10: a code bound by dpop_jkt needs a proof by that key; §5.2: a client registered for DPoP-bound tokens needs a proof.
          boundToProofKey(codes.dpopJkt),
          clientDpopSatisfied(),
        ),
      )
      .returning()
      .prepare(),
  ),
);

function consumeCode(resourceCount: number) {
  const variant = consumeCodeVariants[resourceCount];
  if (!variant) throw new RangeError(`at most ${MAX_RESOURCES_PER_REQUEST} resources`);
  return variant;
}

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
