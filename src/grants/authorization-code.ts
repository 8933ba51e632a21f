import { z } from 'zod';
import { OAuthError } from '../errors';
import { CODE_VERIFIER_PATTERN, s256Challenge } from '../services/pkce';
import { splitScope } from '../services/scopes';
import { redeemCode } from '../storage/codes';
import { touchGrantStatement } from '../storage/grants';
import { prepareRefreshToken } from '../storage/refresh-tokens';
import { offersRefreshToken, tokenResponse } from './issue';
import { defineGrant } from './types';

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5), which every client must use. */
export const authorizationCode = defineGrant({
  grantType: 'authorization_code',
  parameters: z.object({
    code: z.string({ error: 'code is required' }).min(1).max(256),
    redirect_uri: z.string({ error: 'redirect_uri is required' }).min(1).max(2000),
    code_verifier: z
      .string({ error: 'code_verifier is required (PKCE)' })
      .regex(CODE_VERIFIER_PATTERN, 'code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)'),
  }),
  async handler(c, client, params) {
    // The code is consumed only if client, redirect URI and verifier all match
    // what it was issued for (RFC 6749 §4.1.3, RFC 7636 §4.6).
    const code = await redeemCode(c.var.db, c.env.KV, {
      code: params.code,
      clientId: client.id,
      redirectUri: params.redirect_uri,
      codeChallenge: await s256Challenge(params.code_verifier),
    });
    if (!code) {
      throw new OAuthError('invalid_grant', {
        description: 'the code is invalid, expired, already used, or was issued for another client, redirect_uri or code_verifier',
      });
    }
    const scope = splitScope(code.scope);
    const refresh = offersRefreshToken(client, scope)
      ? await prepareRefreshToken(c.var.db, {
          grantId: code.grantId,
          clientId: client.id,
          userId: code.userId,
          scope: code.scope,
          authTime: code.authTime,
        })
      : null;
    const touch = touchGrantStatement(c.var.db, code.grantId);
    await (refresh ? c.var.db.batch([touch, refresh.insert]) : touch);
    const refreshToken = refresh?.token;
    return tokenResponse(c, client, {
      sub: code.userId,
      grantId: code.grantId,
      scope,
      authTime: code.authTime,
      nonce: code.nonce,
      claims: code.claims,
      ...(refreshToken ? { refreshToken } : {}),
    });
  },
});
