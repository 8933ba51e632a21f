import { z } from 'zod';
import { DEVICE_CODE_GRANT_TYPE, OPAQUE_TOKEN_MAX_LENGTH } from '../config';
import { OAuthError } from '../errors';
import { hashSecret, randomSecret } from '../lib/crypto';
import { requiredString } from '../lib/params';
import { pollDeviceAuthorization } from '../services/device-authorization';
import { audienceClaim, checkResources, narrowResources, resourceParam } from '../services/resources';
import { splitScope } from '../services/scopes';
import { offersRefreshToken, tokenResponse } from './issue';
import { defineGrant } from './types';

/**
 * RFC 8628 §3.4: the device polls with its device code. Until the user has
 * answered it gets authorization_pending (or slow_down when it polls too
 * soon), then access_denied, or the tokens the code flow would issue:
 * access, refresh with offline_access (or for a confidential client), an ID
 * token with openid, with the auth_time and claims of the approval, for the
 * RFC 8707 resources the request asked for (or the fewer the poll names).
 */
export const deviceCode = defineGrant({
  grantType: DEVICE_CODE_GRANT_TYPE,
  parameters: z.object({
    device_code: requiredString('device_code', OPAQUE_TOKEN_MAX_LENGTH),
    // RFC 8707 §2: the token may name fewer resources than the request asked for, never others.
    resource: resourceParam.optional(),
  }),
  async handler(deps, pending, params, dpop) {
    // Unknown resources are invalid_target before anything is written (after the client's errors).
    const requested = await pending.precheck(() => checkResources(deps.issuer, params.resource));
    // A refresh token is minted with the redemption, in the same D1 batch, when
    // the client may have one (offersRefreshToken decides the same in SQL): a
    // public client (`none`, as it presented itself) only with offline_access.
    const refreshToken = randomSecret();
    const outcome = await pollDeviceAuthorization(deps, pending, {
      deviceCode: params.device_code,
      resources: requested ?? [],
      // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key.
      refresh: {
        tokenHash: await hashSecret(refreshToken),
        requireOfflineAccess: pending.method === 'none',
        dpopJkt: pending.method === 'none' ? (dpop?.jkt ?? null) : null,
      },
      dpop,
    });
    // RFC 8628 §3.5: each of these is an RFC 6749 §5.2 error response (400).
    if (!outcome.ok) throw new OAuthError(outcome.error, { description: outcome.description });
    const { authorization, client } = outcome;
    const scope = splitScope(authorization.scope);
    const issued = offersRefreshToken(client, scope) ? refreshToken : undefined;
    // redeemStatement only redeems an approved request tied to its grant: user, grant and auth_time are set.
    if (!authorization.userId || !authorization.grantId || authorization.authTime === null) {
      throw new Error('a redeemed device authorization lacks its approval');
    }
    return tokenResponse(deps, client, {
      sub: authorization.userId,
      grantId: authorization.grantId,
      scope,
      authTime: authorization.authTime,
      amr: authorization.amr ?? ['pwd'],
      claims: authorization.claims,
      audience: audienceClaim(deps.issuer, narrowResources(deps.issuer, requested, authorization.resource)),
      ...(issued ? { refreshToken: issued } : {}),
      dpopJkt: dpop?.jkt,
    });
  },
});
