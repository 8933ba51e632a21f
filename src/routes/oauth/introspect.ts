import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { OPAQUE_TOKEN_MAX_LENGTH, TOKEN_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { hashSecret, timingSafeEqual } from '../../lib/crypto';
import { keywordParam, requiredString } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { checkClient, clientCredentialFields, type PresentedClient, presentedClient } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { validate } from '../../middleware/validate';
import { readFromReplica } from '../../services/replica';
import { splitScope } from '../../services/scopes';
import { tokenStandsOn, verifyAccessToken } from '../../services/tokens';
import { clientQuery } from '../../storage/clients';
import type { Db } from '../../storage/db';
import { liveGrantWithEmailQuery } from '../../storage/grants';
import type { Bound } from '../../storage/prepared';
import { liveRefreshTokenQuery } from '../../storage/refresh-tokens';
import type { Client } from '../../storage/schema';

/** RFC 7662 §2.1 request. */
const introspectionSchema = z.object({
  token: requiredString('token', TOKEN_MAX_LENGTH),
  token_type_hint: keywordParam.optional(),
  ...clientCredentialFields,
});

const INACTIVE = { active: false } as const;

/** The introspection endpoint (RFC 7662), for authenticated clients about their own tokens. */
export const introspect = new Hono<AppEnv>();

introspect.use(cors({ origins: 'clients' }));

introspect.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', introspectionSchema),
  async function introspectToken(c) {
    const body = c.req.valid('form');
    const presented = presentedClient(c, body);
    const noStore = { 'Cache-Control': 'no-store' };
    // RFC 7662 §2.2: revoked, expired, unknown and foreign tokens all look alike.
    const inactive = () => c.json(INACTIVE, 200, noStore);

    // One D1 round trip either way: the client's row is read in the same batch
    // as the token's standing, and the client is checked before anything is
    // answered. An access token is a JWT, checked without I/O first; anything
    // else may be a refresh token, looked up by its hash.
    const access = body.token.includes('.') ? await verifyAccessToken(c.var.deps, body.token) : null;
    if (access) {
      const [clientRows, grantRows] = await readWithClient(
        c,
        presented,
        (readDb) => liveGrantWithEmailQuery(readDb, access.grantId, access.jti),
        (client, grant) => tokenStandsOn(access, grant) && access.clientId === client.id,
      );
      const client = await introspectingClient(c, presented, clientRows[0]);
      const grant = grantRows[0];
      // A token that does not stand on its grant (revoked, or claiming another
      // user, client or more scope than the grant holds) is inactive; one
      // issued to another client is not this client's to inspect.
      if (!tokenStandsOn(access, grant) || access.clientId !== client.id) return inactive();
      return c.json(
        {
          active: true,
          // RFC 9449 §6.2: a DPoP-bound token says so, and names its key.
          token_type: access.jkt ? 'DPoP' : 'Bearer',
          ...(access.jkt ? { cnf: { jkt: access.jkt } } : {}),
          scope: access.scope.join(' '),
          client_id: access.clientId,
          sub: access.sub,
          ...username(grant.email, access.scope),
          iss: c.var.deps.issuer,
          // RFC 7662 §2.2 `aud`, as the token carries it (RFC 8707: the resource or resources it is for).
          aud: access.audience.length === 1 ? access.audience[0] : access.audience,
          iat: access.iat,
          exp: access.exp,
          jti: access.jti,
        },
        200,
        noStore,
      );
    }
    // Anything longer than a refresh token can be is not one: no hash, no lookup.
    const refreshHash = body.token.length <= OPAQUE_TOKEN_MAX_LENGTH ? await hashSecret(body.token) : null;
    const [clientRows, refreshRows] = await readWithClient(
      c,
      presented,
      refreshHash ? (readDb) => liveRefreshTokenQuery(readDb, refreshHash) : null,
      (client, refresh) => refresh?.token.clientId === client.id,
    );
    const client = await introspectingClient(c, presented, clientRows[0]);
    const refresh = refreshRows[0];
    if (!refresh || refresh.token.clientId !== client.id) return inactive();
    return c.json(
      {
        active: true,
        token_type: 'refresh_token',
        scope: refresh.token.scope,
        client_id: refresh.token.clientId,
        sub: refresh.token.userId,
        ...username(refresh.email, splitScope(refresh.token.scope)),
        iss: c.var.deps.issuer,
        iat: refresh.token.createdAt,
        exp: refresh.token.expiresAt,
      },
      200,
      noStore,
    );
  },
);

/**
 * RFC 7662 §2.2 `username`, the user's email, only when the token's scope
 * holds `email`: OIDC Core §5.4 releases the email under that scope alone, and
 * introspection must not tell a resource server more than userinfo would.
 */
function username(email: string | null | undefined, scope: readonly string[]): { username?: string } {
  return email && scope.includes('email') ? { username: email } : {};
}

/**
 * The presented client's row and the token's rows, in one D1 batch (a missing
 * read answers no rows), which a read replica answers when its answer is a
 * yes (services/replica.ts): the client authenticates with that row and
 * `active` holds. Anything else (a client or token the replica does not know
 * yet, a secret rotated since) is read again at the primary, whose rows are
 * final: a replica never makes a token inactive nor a client unknown.
 */
async function readWithClient<T>(
  c: Context<AppEnv>,
  presented: PresentedClient,
  read: ((db: Db) => Bound<T[]>) | null,
  active: (client: Client, row: T | undefined) => boolean,
): Promise<[Client[], T[]]> {
  const { deps } = c.var;
  if (!presented.lookup || !read) {
    // Nothing to batch: no client row can authenticate, or no token to look up. The primary, as before.
    const clientRead = presented.lookup ? clientQuery(deps.db, presented.id) : null;
    return [clientRead ? await clientRead : [], read ? await read(deps.db) : []];
  }
  const secretHash = presented.secret === undefined ? undefined : await hashSecret(presented.secret);
  return readFromReplica(
    deps,
    (readDb) => [clientQuery(readDb, presented.id), read(readDb)],
    ([[client], [row]]) => !!client && authenticates(client, presented, secretHash) && active(client, row),
  );
}

/** Whether a confidential client's row takes the presented secret: `checkClient`'s rule, without its side effects, for a replica's row. */
function authenticates(client: Client, presented: PresentedClient, secretHash: string | undefined): boolean {
  if (client.tokenEndpointAuthMethod !== presented.method || presented.method === 'none') return false;
  return !!client.secretHash && secretHash !== undefined && timingSafeEqual(secretHash, client.secretHash);
}

/** The authenticated client, which must be confidential: RFC 7662 §2.1, the endpoint is protected and `none` is no authentication. */
async function introspectingClient(c: Context<AppEnv>, presented: PresentedClient, row: Client | undefined): Promise<Client> {
  const client = await checkClient(c, presented, row);
  if (client.tokenEndpointAuthMethod === 'none') {
    throw new OAuthError('invalid_client', { status: 401, description: 'introspection needs a confidential client' });
  }
  c.set('client', client);
  return client;
}
