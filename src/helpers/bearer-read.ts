import type { BatchItem } from 'drizzle-orm/batch';
import type { Context, Handler } from 'hono';
import type { AppEnv } from '../env';
import { readFromPrimary, readFromReplica } from '../services/replica';
import { type AccessTokenInfo, tokenStandsOn, type VerifiedAccessToken } from '../services/tokens';
import type { Db } from '../storage/db';
import { recordProofStatement } from '../storage/dpop-proofs';
import { isClientCredentialsGrant, type LiveGrant, liveGrantQuery } from '../storage/grants';
import {
  type AccessTokenOptions,
  accessRefusal,
  callerOriginQuery,
  metadataPointer,
  noteCallerOrigin,
  replayedProofAtResource,
  standingUser,
  tokenNoLongerStands,
  verifiedBearer,
} from './bearer';

/** A read a bearer route makes, unexecuted, so it can share a D1 batch with the grant check. */
export type BearerReadQuery<R> = BatchItem<'sqlite'> & PromiseLike<R>;

/** Builds the route's read for a verified access token. */
export type BearerReadBuilder<R> = (db: Db, token: AccessTokenInfo) => BearerReadQuery<R>;

/** Answers with what the read found, once the token is known to stand. */
export type BearerReadResponder<R> = (c: Context<AppEnv>, rows: R, token: AccessTokenInfo) => Response | Promise<Response>;

/**
 * A read-only resource route behind an access token, in one D1 round trip,
 * which a read replica answers (services/replica.ts: a fresh replica's yes, or
 * else the primary's answer): the token is verified (RFC 9068), then the grant
 * check (its grant exists, its jti was not revoked, its user, client and scope
 * are the grant's) and the route's read run in one batch, and the
 * route answers only when the check found the token standing. The handler
 * owns the batch, so no route can run its read without the check; a write
 * must not happen for a revoked token and so uses `requireAccessToken`, whose
 * check runs first.
 *
 * Answers 401 invalid_token for a missing, invalid or no longer standing
 * token, or one for another resource than `options.resource` (no D1 read), and 403 insufficient_scope (RFC 6750 §3.1) for a standing token
 * without the scope or, with `user`, without a user; 401 before 403.
 * Sets `accessToken` for the middleware around it (CORS names the token's
 * client's origin).
 */
export function bearerRead<R>(options: AccessTokenOptions, read: BearerReadBuilder<R>, respond: BearerReadResponder<R>): Handler<AppEnv> {
  return async function bearerRead(c) {
    const { token, verified, proof } = await verifiedBearer(c, options);
    const metadata = metadataPointer(c, options);
    const claims: AccessTokenInfo = { ...verified, userId: userOf(verified), token };
    const refused = accessRefusal(claims, options, metadata);
    if (refused) {
      // A token that no longer stands is told so (401) rather than what it
      // lacks (403): a client then knows to get a new token, not more scope.
      // A refusal reads nothing, so its check runs alone.
      await standingUser(c, verified, metadata);
      throw refused;
    }
    // The user the read was made for (known before the batch) must be the grant's own.
    const stands = (grant: LiveGrant | undefined) => tokenStandsOn(verified, grant) && grant.userId === claims.userId;
    if (proof) {
      // A DPoP call (RFC 9449 §7.1) also records its proof's single use, a
      // write, so its one batch goes to the primary: the proof's row, the
      // grant check and the read, one round trip. Bearer calls stay on the replica.
      const [recorded, grants, rows, ...origin] = await readFromPrimary(c.var.deps, (db) => [
        recordProofStatement(db, proof),
        liveGrantQuery(db, verified.grantId, verified.jti),
        read(db, claims),
        ...callerOriginQuery(c, db, verified),
      ]);
      noteCallerOrigin(c, origin[0]);
      if (!stands(grants[0])) throw tokenNoLongerStands(metadata);
      // RFC 9449 §11.1: the row was there already, so the proof was presented before.
      if (!recorded[0]) throw await replayedProofAtResource(c, metadata);
      c.set('accessToken', claims);
      return respond(c, rows as R, claims);
    }
    // A read replica may answer (services/replica.ts): its yes is used when
    // its replica clock is fresh; its no (a grant it has not seen yet, say)
    // is asked again of the primary, whose answer below is final.
    // A cross-origin call's CORS check (middleware/cors.ts) rides in the same batch.
    const [grants, rows, ...origin] = await readFromReplica(
      c.var.deps,
      (replicaDb) => [
        liveGrantQuery(replicaDb, verified.grantId, verified.jti),
        read(replicaDb, claims),
        ...callerOriginQuery(c, replicaDb, verified),
      ],
      ([found]) => stands(found[0]),
    );
    noteCallerOrigin(c, origin[0]);
    // No row: the grant was revoked or the jti was (RFC 7009 §2.1). A row the
    // token does not stand on: it names another user or client, or more scope
    // than the grant holds (a token signed with a leaked key). Either way
    // whatever the read found is dropped unseen.
    if (!stands(grants[0])) throw tokenNoLongerStands(metadata);
    c.set('accessToken', claims);
    return respond(c, rows as R, claims);
  };
}

/**
 * The user a verified token acts for, known before the batch from its grant
 * id: a client_credentials token acts for its client (no user, OAuth 2.1
 * §4.2); any other token for its `sub`. The batch's grant check then requires
 * that `sub` to be the grant's user, so the read is never another user's.
 */
function userOf(verified: VerifiedAccessToken): string | null {
  return isClientCredentialsGrant(verified.grantId) ? null : verified.sub;
}
