import { Hono } from 'hono';
import { createFactory } from 'hono/factory';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { requireAccessToken } from '../../middleware/bearer-auth';
import { cors } from '../../middleware/cors';
import { findUserById } from '../../storage/users';

/** OIDC Core §5.3: claims about the user, by the scopes the access token carries. */
export const userinfo = new Hono<AppEnv>();

userinfo.use(cors({ origins: 'clients' }));

// OIDC Core §5.3.1: the endpoint answers GET and POST alike.
const handlers = createFactory<AppEnv>().createHandlers(requireAccessToken({ scope: 'openid', user: true }), async function userClaims(c) {
  const token = c.var.accessToken;
  const user = await findUserById(c.var.db, token.sub);
  if (!user) throw new OAuthError('invalid_token', { status: 401, description: 'the user no longer exists' });
  const claims = {
    sub: user.id,
    ...(token.scope.includes('profile') ? { name: user.name } : {}),
    // Tollgate does not verify that a user owns their email yet, so it never claims so.
    ...(token.scope.includes('email') ? { email: user.email, email_verified: false } : {}),
  };
  return c.json(claims, 200, { 'Cache-Control': 'no-store' });
});

userinfo.get('/', ...handlers);
userinfo.post('/', ...handlers);
