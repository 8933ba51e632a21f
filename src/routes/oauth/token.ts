import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { KEYWORD_MAX_LENGTH, PARAMETER_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { GRANT_HANDLERS } from '../../grants';
import { nonceHeader, replayedProof, tokenEndpointProof } from '../../helpers/dpop';
import { describeIssues } from '../../lib/issues';
import { boundedString, requiredString } from '../../lib/params';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields, notRegisteredFor, pendingClient } from '../../middleware/client-auth';
import { cors } from '../../middleware/cors';
import { validate } from '../../middleware/validate';
import { resourceParam } from '../../services/resources';
import { isProofReplay } from '../../storage/dpop-proofs';

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

/**
 * The token endpoint (RFC 6749 §3.2): dispatch on grant_type, the grant
 * authenticating the client in its own D1 batch (one round trip in all,
 * services/client-authentication.ts). Error precedence (RFC 6749 §5.2), the
 * same on every path: malformed client credentials (invalid_request or
 * invalid_client), then the client's authentication (invalid_client, 429 past
 * its failure limit), then unsupported_grant_type and unauthorized_client,
 * then the request's parameters (invalid_request), then the grant's own
 * errors (invalid_grant, invalid_scope, invalid_target, the device flow's).
 */
export const token = new Hono<AppEnv>();

token.use(cors({ origins: 'clients' }));

token.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', tokenRequestSchema, { repeatedRule: REPEATED_RULE }),
  async function tokenRequest(c) {
    try {
      return await dispatch(c);
    } catch (error) {
      // RFC 9449 §11.1: the grant's batch met the proof's row: it was presented before, and nothing was spent.
      if (isProofReplay(error)) throw await replayedProof(c);
      // RFC 9449 §8.1: every answer to a DPoP token request carries a fresh nonce.
      if (error instanceof OAuthError && c.req.header('DPoP') !== undefined) Object.assign(error.headers, await nonceHeader(c));
      throw error;
    }
  },
);

async function dispatch(c: Context<AppEnv, '/', { out: { form: z.infer<typeof tokenRequestSchema> } }>): Promise<Response> {
  const body = c.req.valid('form');
  // RFC 9449 §5: the DPoP proof, checked before anything is read (it needs no
  // storage: a bad one, or one without the server's nonce, is answered first);
  // its single use is recorded in the grant's own batch.
  const dpop = await tokenEndpointProof(c);
  const grant = GRANT_HANDLERS.get(body.grant_type);
  const params = grant?.parameters.safeParse(body);
  if (!grant || !params?.success) {
    // Refused before any grant runs: the client is still authenticated first
    // (one D1 read), so no client learns more than that before it does.
    const client = await authenticateClient(c, body);
    if (!grant) throw new OAuthError('unsupported_grant_type', { description: `grant_type ${body.grant_type} is not supported` });
    if (!client.grantTypes.includes(grant.grantType)) throw notRegisteredFor(grant.grantType);
    // The body passed tokenRequestSchema, so nothing in it is repeated any more but `resource`.
    throw new OAuthError('invalid_request', { description: describeIssues(params?.error?.issues ?? []) });
  }
  const client = await pendingClient(c, body, grant.grantType);
  const response = await grant.handler(c.var.deps, client, params.data, dpop);
  // RFC 6749 §5.1: token responses must not be cached. RFC 9449 §8.1: a DPoP request gets the next nonce.
  return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...(dpop ? await nonceHeader(c) : {}) });
}
