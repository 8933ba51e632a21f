import { z } from 'zod';
import { OPAQUE_TOKEN_MAX_LENGTH, REDIRECT_URI_MAX_LENGTH } from '../config';
import { OAuthError } from '../errors';
import { hashSecret, randomSecret } from '../lib/crypto';
import { requiredString } from '../lib/params';
import { CODE_VERIFIER_PATTERN, s256Challenge } from '../lib/pkce';
import { redeemCode } from '../services/codes';
import { audienceClaim, checkResources, narrowResources, resourceParam } from '../services/resources';
import { splitScope } from '../services/scopes';
import { dpopRequired, offersRefreshToken, tokenResponse } from './issue';
import { defineGrant } from './types';

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5), which every client must use. */
export const authorizationCode = defineGrant({
  grantType: 'authorization_code',
  parameters: z.object({
    code: requiredString('code', OPAQUE_TOKEN_MAX_LENGTH),
    redirect_uri: requiredString('redirect_uri', REDIRECT_URI_MAX_LENGTH),
    code_verifier: z
      .string({ error: 'code_verifier is required (PKCE)' })
      .regex(CODE_VERIFIER_PATTERN, 'code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)'),
    resource: resourceParam.optional(),
  }),
  async handler(deps, pending, params, dpop) {
    // RFC 8707 §2.2: the token may name fewer resources than the code holds,
    // never others; the redemption's UPDATE holds the code to that. A resource
    // no one protects is refused before the batch (after the client's errors).
    const requested = await pending.precheck(() => checkResources(deps.issuer, params.resource));
    // The code is consumed only if client, redirect URI and verifier all match
    // what it was issued for (RFC 6749 §4.1.3, RFC 7636 §4.6), and only if the
    // client authenticates, all in the redemption's one D1 batch.
    // A refresh token is minted with it, in that batch, when the client may
    // have one (offersRefreshToken decides the same in SQL): a public client
    // (`none`, as it presented itself) only with offline_access.
    const refreshToken = randomSecret();
    const redemption = await redeemCode(deps, pending, {
      code: params.code,
      redirectUri: params.redirect_uri,
      codeChallenge: await s256Challenge(params.code_verifier),
      resources: requested,
      // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key; a confidential client's are not (it authenticates).
      refresh: {
        tokenHash: await hashSecret(refreshToken),
        requireOfflineAccess: pending.method === 'none',
        dpopJkt: pending.method === 'none' ? (dpop?.jkt ?? null) : null,
      },
      dpop,
    });
    if (redemption.outcome === 'target_not_granted') {
      throw new OAuthError('invalid_target', { description: 'resource names a resource the authorization request did not ask for' });
    }
    if (redemption.outcome === 'dpop_required') throw dpopRequired();
    if (redemption.outcome === 'dpop_key_mismatch') {
      throw new OAuthError('invalid_grant', {
        description: 'the code is bound by dpop_jkt to another DPoP key than the proof’s (RFC 9449 §10)',
      });
    }
    if (redemption.outcome === 'invalid') {
      throw new OAuthError('invalid_grant', {
        description: 'the code is invalid, expired, already used, or was issued for another client, redirect_uri or code_verifier',
      });
    }
    const { client } = redemption;
    const { code } = redemption;
    const scope = splitScope(code.scope);
    const issued = offersRefreshToken(client, scope) ? refreshToken : undefined;
    return tokenResponse(deps, client, {
      sub: code.userId,
      grantId: code.grantId,
      scope,
      authTime: code.authTime,
      amr: code.amr,
      nonce: code.nonce,
      claims: code.claims,
      audience: audienceClaim(deps.issuer, narrowResources(deps.issuer, requested, code.resource)),
      ...(issued ? { refreshToken: issued } : {}),
      dpopJkt: dpop?.jkt,
    });
  },
});
