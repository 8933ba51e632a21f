import { z } from 'zod';
import { OAuthError } from '../errors';
import { scopeParam } from '../lib/params';
import { authenticateWithProof } from '../services/dpop';
import { audienceClaim, checkResources, resourceParam } from '../services/resources';
import { allowedScopes, isUserScope } from '../services/scopes';
import { clientCredentialsGrantId } from '../storage/grants';
import { dpopRequired, tokenResponse } from './issue';
import { defineGrant } from './types';

/**
 * RFC 6749 §4.4: a confidential client gets a token for itself. `sub` is the
 * client id (RFC 9068 §2.2); no refresh token (RFC 6749 §4.4.3). The token
 * hangs off the client's own grant, made when it registered.
 *
 * One D1 round trip, the client's authentication: nothing is written, but the
 * secret's hash lives only in the client's row, and only a read of it now
 * refuses a client deleted or given a new secret a moment ago (a per-isolate
 * cache could not see that from another isolate). The bearer check's grant
 * read would refuse a deleted client's token later, but a token must not be
 * issued on a secret D1 no longer holds.
 */
export const clientCredentials = defineGrant({
  grantType: 'client_credentials',
  parameters: z.object({ scope: scopeParam.optional(), resource: resourceParam.optional() }),
  async handler(deps, pending, params, dpop) {
    // With a proof, the authentication's read also records the proof's single use: still one round trip.
    const client = dpop ? await authenticateWithProof(deps, pending, dpop) : await pending.authenticate();
    // RFC 9449 §5.2: nothing was written without a proof, so refusing now spends nothing.
    if (!dpop && client.dpopBoundAccessTokens) throw dpopRequired();
    if (client.tokenEndpointAuthMethod === 'none') {
      throw new OAuthError('unauthorized_client', { description: 'client_credentials needs a confidential client' });
    }
    const scope = allowedScopes(params.scope, client.scope);
    const userScope = scope.find(isUserScope);
    if (userScope) throw new OAuthError('invalid_scope', { description: `${userScope} needs a user; client_credentials has none` });
    // RFC 8707 §2.2: any resource this issuer protects; none asked, the default.
    const audience = audienceClaim(deps.issuer, checkResources(deps.issuer, params.resource));
    return tokenResponse(deps, client, {
      sub: client.id,
      grantId: clientCredentialsGrantId(client.id),
      scope,
      audience,
      dpopJkt: dpop?.jkt,
    });
  },
});
