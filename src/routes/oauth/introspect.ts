import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { validate } from '../../middleware/validate';
import { resourceAudience, standingAccessToken } from '../../services/tokens';
import { findLiveRefreshToken } from '../../storage/refresh-tokens';
import { findUserById } from '../../storage/users';

/** RFC 7662 §2.1 request. */
const introspectionSchema = z.object({
  token: z.string({ error: 'token is required' }).min(1).max(4096),
  token_type_hint: z.string().max(64).optional(),
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
    const client = await authenticateClient(c, body);
    // RFC 7662 §2.1: the endpoint must be protected; `none` is no authentication.
    if (client.tokenEndpointAuthMethod === 'none') {
      throw new OAuthError('invalid_client', { status: 401, description: 'introspection needs a confidential client' });
    }
    c.set('client', client);
    const db = c.var.db;
    const noStore = { 'Cache-Control': 'no-store' };
    const username = async (userId: string | null) => (userId ? (await findUserById(db, userId))?.email : undefined);

    const access = await standingAccessToken({ db, env: c.env, issuer: c.var.issuer }, body.token);
    if (access) {
      // A token issued to another client is not this client's to inspect.
      if (access.clientId !== client.id) return c.json(INACTIVE, 200, noStore);
      const email = await username(access.userId);
      return c.json(
        {
          active: true,
          token_type: 'Bearer',
          scope: access.scope.join(' '),
          client_id: access.clientId,
          sub: access.sub,
          ...(email ? { username: email } : {}),
          iss: c.var.issuer,
          aud: resourceAudience(c.var.issuer),
          iat: access.iat,
          exp: access.exp,
          jti: access.jti,
        },
        200,
        noStore,
      );
    }
    const refresh = body.token.length <= 256 ? await findLiveRefreshToken(db, body.token) : null;
    if (refresh && refresh.clientId === client.id) {
      const email = await username(refresh.userId);
      return c.json(
        {
          active: true,
          token_type: 'refresh_token',
          scope: refresh.scope,
          client_id: refresh.clientId,
          sub: refresh.userId,
          ...(email ? { username: email } : {}),
          iss: c.var.issuer,
          iat: refresh.createdAt,
          exp: refresh.expiresAt,
        },
        200,
        noStore,
      );
    }
    // RFC 7662 §2.2: revoked, expired, unknown and foreign tokens all look alike.
    return c.json(INACTIVE, 200, noStore);
  },
);
