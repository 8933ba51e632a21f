import { z } from 'zod';
import { OAuthError } from '../errors';
import { scopeParam } from '../lib/params';
import { audienceClaim, checkResources, resourceParam } from '../services/resources';
import { allowedScopes, isUserScope } from '../services/scopes';
import { clientCredentialsGrantId } from '../storage/grants';
import { tokenResponse } from './issue';
import { defineGrant } from './types';

/**
 * RFC 6749 §4.4: a confidential client gets a token for itself. `sub` is the
 * client id (RFC 9068 §2.2); no refresh token (RFC 6749 §4.4.3). The token
 * hangs off the client's own grant, made when it registered.
 */
export const clientCredentials = defineGrant({
  grantType: 'client_credentials',
  parameters: z.object({ scope: scopeParam.optional(), resource: resourceParam.optional() }),
  async handler(deps, client, params) {
    if (client.tokenEndpointAuthMethod === 'none') {
      throw new OAuthError('unauthorized_client', { description: 'client_credentials needs a confidential client' });
    }
    const scope = allowedScopes(params.scope, client.scope);
    const userScope = scope.find(isUserScope);
    if (userScope) throw new OAuthError('invalid_scope', { description: `${userScope} needs a user; client_credentials has none` });
    // RFC 8707 §2.2: any resource this issuer protects; none asked, the default.
    const audience = audienceClaim(deps.issuer, checkResources(deps.issuer, params.resource));
    return tokenResponse(deps, client, { sub: client.id, grantId: clientCredentialsGrantId(client.id), scope, audience });
  },
});
