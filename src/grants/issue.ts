import { ACCESS_TOKEN_TTL } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { signAccessToken, signIdToken } from '../services/tokens';
import type { Client } from '../storage/schema';
import type { TokenResponse } from './types';

export interface IssueOptions {
  sub: string;
  grantId: string;
  scope: string[];
  authTime?: number;
  /** How the user signed in (RFC 8176 `amr`), for the ID token's `amr` and `acr`. */
  amr?: string[];
  /** Only the authorization code grant carries the request's nonce. */
  nonce?: string | null;
  /** User claims for the ID token (OIDC Core §5.4), by granted scope. */
  claims?: Record<string, unknown> | null;
  refreshToken?: string;
  /** The access token's `aud` (RFC 8707 §2.2, services/resources.ts audienceClaim); the books API when absent. */
  audience?: string | string[];
  /** RFC 9449 §5: the request's DPoP proof key thumbprint: the access token is bound to it (`cnf.jkt`, token_type DPoP). */
  dpopJkt?: string | undefined;
}

/**
 * Whether a grant hands out a refresh token: the client registered for the
 * refresh_token grant, and either the user granted offline_access or the
 * client is confidential (OIDC Core §11, RFC 9700 §4.14).
 */
export function offersRefreshToken(client: Client, scope: string[]): boolean {
  return client.grantTypes.includes('refresh_token') && (scope.includes('offline_access') || client.tokenEndpointAuthMethod !== 'none');
}

/** The token response (RFC 6749 §5.1): an access token, and an ID token when openid was granted to a user. */
export async function tokenResponse(deps: Deps, client: Client, options: IssueOptions): Promise<TokenResponse> {
  const accessToken = await signAccessToken(deps, {
    sub: options.sub,
    clientId: client.id,
    scope: options.scope,
    grantId: options.grantId,
    ...(options.authTime !== undefined ? { authTime: options.authTime } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
    ...(options.dpopJkt ? { jkt: options.dpopJkt } : {}),
  });
  const idToken =
    options.scope.includes('openid') && options.authTime !== undefined
      ? await signIdToken(deps, {
          sub: options.sub,
          clientId: client.id,
          authTime: options.authTime,
          amr: options.amr ?? ['pwd'],
          nonce: options.nonce ?? null,
          accessToken,
          claims: options.claims ?? {},
        })
      : undefined;
  return {
    access_token: accessToken,
    token_type: options.dpopJkt ? 'DPoP' : 'Bearer',
    expires_in: ACCESS_TOKEN_TTL,
    scope: options.scope.join(' '),
    ...(idToken ? { id_token: idToken } : {}),
    ...(options.refreshToken ? { refresh_token: options.refreshToken } : {}),
  };
}

/** RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` sent a token request without a proof. */
export function dpopRequired(): OAuthError {
  return new OAuthError('invalid_dpop_proof', {
    description: 'this client registered dpop_bound_access_tokens: the token request needs a DPoP proof',
  });
}
