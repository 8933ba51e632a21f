import { Hono } from 'hono';
import { z } from 'zod';
import { TWO_FACTOR_CODE_MAX_LENGTH, USER_TOKEN_TTL } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { afterResponse } from '../helpers/after-response';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { requireUserToken } from '../middleware/bearer-auth';
import { limitBody, requireContentType } from '../middleware/body';
import { validate } from '../middleware/validate';
import { credentialsSchema, signUp, signupSchema } from '../services/accounts';
import { sendVerificationMail } from '../services/email-verification';
import { countAttempt } from '../services/rate-limits';
import { signIn } from '../services/sign-in';
import { verifyCodeOnce } from '../services/totp';
import { issueUserApiToken, revokeUserApiToken } from '../services/user-api-tokens';

/** The JSON account API: sign up, sign in for a user API token, and sign it out. */
export const users = new Hono<AppEnv>();

users.post('/users', limitBody, requireContentType('application/json'), validate('json', signupSchema), async function createAccount(c) {
  const network = clientNetwork(c);
  if (network) await countAttempt(c.var.deps, 'signupNetwork', network);
  const user = await signUp(c.var.deps, c.req.valid('json'));
  if (!user) throw new OAuthError('conflict', { status: 409, description: 'an account with this email already exists' });
  // Like the sign-up page: the email_verified claim waits for the mailed link.
  afterResponse(c, sendVerificationMail(c.var.deps, user));
  return c.json({ id: user.id, email: user.email, name: user.name }, 201);
});

/** `/api/login`'s body: the credentials, and for an account with two-factor on its code (TOTP or a recovery code). */
const apiLoginSchema = credentialsSchema.extend({ code: z.string().max(TWO_FACTOR_CODE_MAX_LENGTH).optional() });

users.post('/login', limitBody, requireContentType('application/json'), validate('json', apiLoginSchema), async function apiLogin(c) {
  const { code, ...credentials } = c.req.valid('json');
  const ip = clientIp(c);
  // No cookies here, so no device cookie: the account-wide limit always holds, and no challenge can lift it.
  const accepted = await signIn(c.var.deps, credentials, { ip, network: clientNetwork(c), canShowChallenge: false });
  if (!accepted) throw new OAuthError('invalid_credentials', { status: 401, description: 'email or password is incorrect' });
  const { user } = accepted;
  // Two-factor on: the password alone never gets a token; the code comes in the same request (no state is kept).
  if (accepted.twoFactor && (code === undefined || !(await verifyCodeOnce(c.var.deps, user.id, code, ip)))) {
    const description = code === undefined ? 'this account has two-factor sign-in on: send its code as code' : 'the code is not right';
    throw new OAuthError('invalid_credentials', { status: 401, description });
  }
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
