import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { GRANT_HANDLERS } from '../../grants';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { describeIssues, validate } from '../../middleware/validate';

/**
 * Every token request names its grant type and may carry client credentials;
 * every other parameter is a single string (a repeated one is refused,
 * RFC 6749 §3.2) and is checked by the grant's own schema.
 */
const tokenRequestSchema = z
  .object({
    grant_type: z.string({ error: 'grant_type is required' }).min(1).max(64),
    ...clientCredentialFields,
  })
  .catchall(z.string().max(4096, 'is too long'));

/** The token endpoint (RFC 6749 §3.2): authenticate the client, then dispatch on grant_type. */
export const token = new Hono<AppEnv>();

token.use(cors({ origins: 'clients' }));

token.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', tokenRequestSchema),
  async function tokenRequest(c) {
    const body = c.req.valid('form');
    const client = await authenticateClient(c, body);
    const grant = GRANT_HANDLERS.get(body.grant_type);
    if (!grant)
      throw new OAuthError('unsupported_grant_type', { description: `grant_type ${body.grant_type.slice(0, 64)} is not supported` });
    if (!client.grantTypes.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', { description: `this client is not registered for ${grant.grantType}` });
    }
    const params = grant.parameters.safeParse(body);
    if (!params.success) throw new OAuthError('invalid_request', { description: describeIssues(params.error.issues) });
    const response = await grant.handler(c.var.deps, client, params.data);
    // RFC 6749 §5.1: token responses must not be cached.
    return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  },
);
