import { Hono } from 'hono';
import { z } from 'zod';
import { KEYWORD_MAX_LENGTH, PARAMETER_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { GRANT_HANDLERS } from '../../grants';
import { describeIssues } from '../../lib/issues';
import { boundedString, requiredString } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { validate } from '../../middleware/validate';
import { resourceParam } from '../../services/resources';

/** RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once." */
const REPEATED_RULE = 'RFC 6749 §3.2';

/**
 * Every token request names its grant type and may carry client credentials;
 * every other parameter is a single string (a repeated one is refused,
 * RFC 6749 §3.2) and is checked by the grant's own schema. The one exception
 * is `resource`, which RFC 8707 §2 lets repeat, once per resource.
 */
const tokenRequestSchema = z
  .object({
    grant_type: requiredString('grant_type', KEYWORD_MAX_LENGTH),
    ...clientCredentialFields,
    resource: resourceParam.optional(),
  })
  .catchall(boundedString(PARAMETER_MAX_LENGTH));

/** The token endpoint (RFC 6749 §3.2): authenticate the client, then dispatch on grant_type. */
export const token = new Hono<AppEnv>();

token.use(cors({ origins: 'clients' }));

token.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', tokenRequestSchema, { repeatedRule: REPEATED_RULE }),
  async function tokenRequest(c) {
    const body = c.req.valid('form');
    const client = await authenticateClient(c, body);
    const grant = GRANT_HANDLERS.get(body.grant_type);
    if (!grant) throw new OAuthError('unsupported_grant_type', { description: `grant_type ${body.grant_type} is not supported` });
    if (!client.grantTypes.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', { description: `this client is not registered for ${grant.grantType}` });
    }
    const params = grant.parameters.safeParse(body);
    // The body passed tokenRequestSchema, so nothing in it is repeated any more but `resource`.
    if (!params.success) throw new OAuthError('invalid_request', { description: describeIssues(params.error.issues) });
    const response = await grant.handler(c.var.deps, client, params.data);
    // RFC 6749 §5.1: token responses must not be cached.
    return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  },
);
