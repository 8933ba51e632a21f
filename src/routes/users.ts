import { Hono } from 'hono';
import { USER_TOKEN_TTL } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { requireUserToken } from '../middleware/bearer-auth';
import { limitBody, requireContentType } from '../middleware/body';
import { validate } from '../middleware/validate';
import { credentialsSchema, signUp, signupSchema } from '../services/accounts';
import { countAttempt } from '../services/rate-limits';
import { signIn } from '../services/sign-in';
import { issueUserApiToken, revokeUserApiToken } from '../services/user-api-tokens';

/** The JSON account API: sign up, sign in for a user API token, and sign it out. */
export const users = new Hono<AppEnv>();

users.post('/users', limitBody, requireContentType('application/json'), validate('json', signupSchema), async function createAccount(c) {
  const network = clientNetwork(c);
  if (network) await countAttempt(c.var.deps, 'signupNetwork', network);
  const user = await signUp(c.var.deps, c.req.valid('json'));
  if (!user) throw new OAuthError('conflict', { status: 409, description: 'an account with this email already exists' });
  return c.json({ id: user.id, email: user.email, name: user.name }, 201);
});

users.post('/login', limitBody, requireContentType('application/json'), validate('json', credentialsSchema), async function apiLogin(c) {
  // No cookies here, so no device cookie: the account-wide limit always holds, and no challenge can lift it.
  const user = await signIn(c.var.deps, c.req.valid('json'), { ip: clientIp(c), network: clientNetwork(c), canShowChallenge: false });
  if (!user) throw new OAuthError('invalid_credentials', { status: 401, description: 'email or password is incorrect' });
  const token = await issueUserApiToken(c.var.deps, user.id);
  c.header('Cache-Control', 'no-store');
  return c.json({ access_token: token, token_type: 'Bearer', expires_in: USER_TOKEN_TTL });
});

// Signs the presented user API token out: it stops working at once, here and
// at /api/clients and /oauth2/register (OWASP ASVS 4.0 V3.3.1).
users.post('/logout', requireUserToken, async function apiLogout(c) {
  await revokeUserApiToken(c.var.deps, c.var.apiUser.jtiHash);
  return c.body(null, 204, { 'Cache-Control': 'no-store' });
});
