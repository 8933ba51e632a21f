import { Hono } from 'hono';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { bearerRead } from '../../helpers/bearer-read';
import { cors } from '../../middleware/cors';
import { userClaims } from '../../services/scopes';
import { userByIdQuery } from '../../storage/users';

/** OIDC Core §5.3: claims about the user, by the scopes the access token carries. */
export const userinfo = new Hono<AppEnv>();

userinfo.use(cors({ origins: 'clients' }));

// A read: the grant check and the user's row share one D1 round trip.
const userinfoEndpoint = bearerRead(
  { scope: 'openid', user: true },
  (db, token) => userByIdQuery(db, token.sub),
  function userinfoResponse(c, [user], token) {
    if (!user) throw new OAuthError('invalid_token', { status: 401, description: 'the user no longer exists' });
    return c.json({ sub: user.id, ...userClaims(user, token.scope) }, 200, { 'Cache-Control': 'no-store' });
  },
);

// OIDC Core §5.3.1: the endpoint answers GET and POST alike.
userinfo.get('/', userinfoEndpoint);
userinfo.post('/', userinfoEndpoint);
