import { Hono } from 'hono';
import { z } from 'zod';
import { PARAMETER_MAX_LENGTH } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { clientNetwork } from '../../helpers/client-ip';
import { nonceHeader, tokenEndpointProof } from '../../helpers/dpop';
import { limitBody, requireContentType } from '../../middleware/body';
import { authenticateClient, clientCredentialFields } from '../../middleware/client-auth';
import { validate } from '../../middleware/validate';
import { pushAuthorizationRequest } from '../../services/pushed-requests';
import { resourceParam } from '../../services/resources';

/** RFC 9126 §2.1 uses the token endpoint's form encoding, and its rule against repeated parameters. */
const REPEATED_RULE = 'RFC 6749 §3.2';

/**
 * The client's credentials and the authorization request's parameters, each
 * a single bounded string but `resource`, which RFC 8707 §2 lets repeat; the
 * authorization checks read the rest as they do at the authorization endpoint.
 */
const pushedRequestSchema = z
  .object({ ...clientCredentialFields, resource: resourceParam.optional() })
  .catchall(z.string().max(PARAMETER_MAX_LENGTH));

/**
 * The pushed authorization request endpoint (RFC 9126 §2). The client
 * authenticates as at the token endpoint (§2: a confidential client with its
 * secret, a public client with its client_id), and the request is checked as
 * the authorization endpoint checks one; the answer is 201 with a
 * `request_uri` the browser is then sent to /oauth2/authorize with, once,
 * within PUSHED_REQUEST_TTL (60 s). Errors are JSON (§2.3).
 *
 * No CORS: a browser app has no secret to protect its request with, and
 * PAR's point is a request that does not pass through the browser.
 */
export const par = new Hono<AppEnv>();

par.post(
  '/',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  validate('form', pushedRequestSchema, { repeatedRule: REPEATED_RULE }),
  async function pushedAuthorizationRequest(c) {
    const body = c.req.valid('form');
    // RFC 9449 §10.1: a DPoP proof at PAR (htm POST, htu this endpoint, no
    // ath) binds the pushed request to its key as `dpop_jkt` would. It is the
    // token endpoint's own check, and so its nonce rule: the server's nonce is
    // required by default (§8 allows it at PAR too). A proof made ahead of
    // time is refused here for the same reason as there, and a client that
    // can answer use_dpop_nonce at one endpoint answers it at the other with
    // the same nonce. Checked first, before the client's authentication
    // spends anything (a private_key_jwt assertion's jti), and needing no
    // storage: a bad proof is a 400 and nothing is stored.
    const dpop = await tokenEndpointProof(c);
    try {
      const client = await authenticateClient(c, body);
      const { client_secret: _secret, ...params } = body;
      const response = await pushAuthorizationRequest(c.var.deps, client, params, clientNetwork(c), dpop?.jkt);
      // RFC 9126 §2.2: 201 Created; the request_uri stands for the request, so it is never cached.
      // RFC 9449 §8.1: a DPoP request gets the next nonce.
      return c.json(response, 201, { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...(dpop ? await nonceHeader(c) : {}) });
    } catch (error) {
      // RFC 9449 §8.1: every answer to a request with a proof carries a fresh nonce.
      if (error instanceof OAuthError && dpop) Object.assign(error.headers, await nonceHeader(c));
      throw error;
    }
  },
);
