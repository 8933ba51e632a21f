import { Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_CODE_GRANT_TYPE, PARAMETER_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { clientNetwork } from '../../helpers/client-ip';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { validate } from '../../middleware/validate';
import { DEVICE_AUTHORIZATION_CHECKS, runChecks } from '../../services/authorization/checks';
import { startDeviceAuthorization } from '../../services/device-authorization';
import { resourceParam } from '../../services/resources';

/** RFC 8628 §3.1 uses the token endpoint's form encoding, and its rule against repeated parameters. */
const REPEATED_RULE = 'RFC 6749 §3.2';

/**
 * The client's credentials and any other parameter, each a single bounded
 * string but `resource`, which RFC 8707 §2 lets repeat; `scope`, `resource`
 * and the rest are checked by the authorization checks.
 */
const deviceAuthorizationSchema = z
  .object({ ...clientCredentialFields, resource: resourceParam.optional() })
  .catchall(z.string().max(PARAMETER_MAX_LENGTH));

/**
 * The device authorization endpoint (RFC 8628 §3.1): a device asks for a
 * device code and a user code. The client authenticates as at the token
 * endpoint (§3.1: "the client MUST authenticate" when it is confidential; a
 * public client sends its client_id) and must be registered for the device
 * grant; `scope` is checked like at the authorization endpoint.
 *
 * No CORS: the device flow is for devices that cannot run a browser
 * redirect, and a browser app can (it uses the code flow). A client's CORS
 * origins come from its redirect URIs, which a device-only client has none
 * of, so allowing CORS here would only open the endpoint to pages that have
 * no business starting device sign-ins.
 */
export const deviceAuthorization = new Hono<AppEnv>();

deviceAuthorization.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', deviceAuthorizationSchema, { repeatedRule: REPEATED_RULE }),
  async function deviceAuthorizationRequest(c) {
    const body = c.req.valid('form');
    const client = await authenticateClient(c, body);
    // RFC 8628 §3.1 with RFC 6749 §5.2: a client not registered for the grant is unauthorized_client.
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
      throw new OAuthError('unauthorized_client', { description: `this client is not registered for ${DEVICE_CODE_GRANT_TYPE}` });
    }
    const { request } = runChecks(DEVICE_AUTHORIZATION_CHECKS, body, client, c.var.deps.issuer);
    // checkScope sets it or throws invalid_scope.
    if (!request.scope) throw new Error('the device authorization checks did not set scope');
    const resource = request.resource ?? null;
    const response = await startDeviceAuthorization(c.var.deps, client, { scope: request.scope, resource }, clientNetwork(c));
    // The device code is a secret: never cached (as RFC 6749 §5.1 says of tokens).
    return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  },
);
