import { z } from 'zod';
import { OPAQUE_TOKEN_MAX_LENGTH } from '../config';
import { OAuthError } from '../errors';
import { requiredString, scopeParam } from '../lib/params';
import { rotateRefreshToken } from '../services/refresh-tokens';
import { audienceClaim, checkResources, narrowResources, resourceParam } from '../services/resources';
import { allowedScopes, splitScope } from '../services/scopes';
import { dpopRequired, tokenResponse } from './issue';
import { defineGrant } from './types';

/**
 * RFC 6749 §6. Every use rotates the token (RFC 9700 §4.14.2); using a token
 * that was already rotated revokes its whole family. The scope may be
 * narrowed for the new access token, never widened; the new refresh token
 * keeps the original scope (RFC 6749 §6). The same for resources (RFC 8707
 * §2.2): the access token may name fewer than the grant holds, never others,
 * and the new refresh token keeps them all.
 */
export const refreshToken = defineGrant({
  grantType: 'refresh_token',
  parameters: z.object({
    refresh_token: requiredString('refresh_token', OPAQUE_TOKEN_MAX_LENGTH),
    scope: scopeParam.optional(),
    resource: resourceParam.optional(),
  }),
  async handler(deps, pending, params, dpop) {
    // Known scopes and resources, checked before the batch (after the
    // client's errors); the client's own registered scope is held in the
    // rotation's batch, where the client is read.
    const requested = await pending.precheck(() => (params.scope === undefined ? [] : allowedScopes(params.scope, null)));
    const resources = await pending.precheck(() => checkResources(deps.issuer, params.resource));
    const rotation = await rotateRefreshToken(deps, pending, params.refresh_token, requested, resources ?? [], dpop);
    const { client } = rotation;
    switch (rotation.outcome) {
      case 'rotated': {
        const { previous } = rotation;
        return tokenResponse(deps, client, {
          sub: previous.userId,
          grantId: previous.grantId,
          scope: requested.length > 0 ? requested : splitScope(previous.scope),
          // OIDC Core §12.2: auth_time stays the original sign-in; no nonce.
          authTime: previous.authTime,
          amr: previous.amr,
          refreshToken: rotation.token,
          audience: audienceClaim(deps.issuer, narrowResources(deps.issuer, resources, previous.resource)),
          dpopJkt: dpop?.jkt,
        });
      }
      case 'scope_widened':
        throw new OAuthError('invalid_scope', { description: 'the requested scope exceeds the scope originally granted' });
      case 'target_widened':
        throw new OAuthError('invalid_target', { description: 'resource names a resource the refresh token was not granted for' });
      case 'reused':
        throw new OAuthError('invalid_grant', { description: 'the refresh token was already used; its grant has been revoked' });
      case 'dpop_required':
        throw dpopRequired();
      case 'dpop_key_mismatch':
        // RFC 9449 §5: a bound refresh token is worth nothing without its key.
        throw new OAuthError('invalid_grant', {
          description: 'the refresh token is bound to another DPoP key than the proof’s, or needs a DPoP proof',
        });
      case 'invalid':
        throw new OAuthError('invalid_grant', { description: 'the refresh token is invalid, expired or was issued to another client' });
    }
  },
});
