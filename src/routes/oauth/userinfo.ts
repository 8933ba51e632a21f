import { Hono } from 'hono';
import { createFactory } from 'hono/factory';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { requireAccessToken, withStandingGrant } from '../../middleware/bearer-auth';
import { cors } from '../../middleware/cors';
import { userClaims } from '../../services/scopes';
import { userByIdQuery } from '../../storage/users';

/** OIDC Core §5.3: claims about the user, by the scopes the access token carries. */
export const userinfo = new Hono<AppEnv>();

userinfo.use(cors({ origins: 'clients' }));

// OIDC Core §5.3.1: the endpoint answers GET and POST alike.
// A read: the grant check and the user's row share one D1 round trip.
const handlers = createFactory<AppEnv>().createHandlers(
  requireAccessToken({ scope: 'openid', user: true, batchedGrantCheck: true }),
  async function userinfoResponse(c) {
    const token = c.var.accessToken;
    const [user] = await withStandingGrant(c, userByIdQuery(c.var.deps.db, token.sub));
    if (!user) throw new OAuthError('invalid_token', { status: 401, description: 'the user no longer exists' });
    return c.json({ sub: user.id, ...userClaims(user, token.scope) }, 200, { 'Cache-Control': 'no-store' });
  },
);

userinfo.get('/', ...handlers);
userinfo.post('/', ...handlers);
