import { Hono } from 'hono';
import { z } from 'zod';
import { TOKEN_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { keywordParam, requiredString } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { validate } from '../../middleware/validate';
import { revokeTokenOfClient } from '../../services/revocation';

/** RFC 7009 §2.1 request: the token, an optional hint, and client credentials. */
const revocationSchema = z.object({
  token: requiredString('token', TOKEN_MAX_LENGTH),
  token_type_hint: keywordParam.optional(),
  ...clientCredentialFields,
});

/** The revocation endpoint (RFC 7009). */
export const revoke = new Hono<AppEnv>();

revoke.use(cors({ origins: 'clients' }));

revoke.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', revocationSchema),
  async function revokeToken(c) {
    const body = c.req.valid('form');
    const client = await authenticateClient(c, body);
    await revokeTokenOfClient(c.var.deps, client.id, { token: body.token, tokenTypeHint: body.token_type_hint });
    // RFC 7009 §2.2: 200 whether or not the token was valid, or the caller's:
    // an error would tell a token thief which tokens are live.
    return c.body(null, 200, { 'Cache-Control': 'no-store' });
  },
);
