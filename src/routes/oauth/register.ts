import { Hono } from 'hono';
import { z } from 'zod';
import { CLIENT_AUTH_METHODS, CLIENT_NAME_MAX_LENGTH, GRANT_TYPES, MAX_REDIRECT_URIS } from '../../config';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { hashSecret, now, randomSecret } from '../../lib/crypto';
import { redirectUriParam, scopeParam } from '../../lib/params';
import { requireUserToken } from '../../middleware/bearer-auth';
import { limitBody, requireContentType } from '../../middleware/body';
import { validate } from '../../middleware/validate';
import { createClient } from '../../services/clients';
import { countAttempt } from '../../services/rate-limits';
import { redirectUriProblem } from '../../services/redirect-uris';
import { isSupportedScope, splitScope } from '../../services/scopes';
import type { Client } from '../../storage/schema';

/**
 * RFC 7591 §2 client metadata. Unknown fields are ignored (§2: the server
 * "MUST ignore any client metadata ... that it does not understand").
 */
const registrationSchema = z.object({
  redirect_uris: z.array(redirectUriParam).max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`).optional(),
  post_logout_redirect_uris: z
    .array(redirectUriParam)
    .max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} post-logout redirect URIs`)
    .optional(),
  client_name: z.string().trim().min(1).max(CLIENT_NAME_MAX_LENGTH).optional(),
  token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).default('client_secret_basic'),
  // No more entries than there are grant types (checkRegistration folds duplicates).
  grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length).default(['authorization_code']),
  response_types: z.array(z.literal('code', 'only the code response type is supported')).max(1).optional(),
  scope: scopeParam.optional(),
});
type Registration = z.infer<typeof registrationSchema>;

function invalidMetadata(description: string): OAuthError {
  return new OAuthError('invalid_client_metadata', { description });
}

/** The checks zod cannot express: how the fields fit together (RFC 7591 §2.1). */
function checkRegistration(input: Registration) {
  const grantTypes = [...new Set(input.grant_types)];
  const redirectUris = [...new Set(input.redirect_uris ?? [])];
  const usesCode = grantTypes.includes('authorization_code');
  if (usesCode && redirectUris.length === 0) {
    throw new OAuthError('invalid_redirect_uri', { description: 'redirect_uris is required for the authorization_code grant' });
  }
  const postLogoutRedirectUris = [...new Set(input.post_logout_redirect_uris ?? [])];
  for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new OAuthError('invalid_redirect_uri', { description: `redirect URI ${uri.slice(0, 200)} ${problem}` });
  }
  if (grantTypes.includes('refresh_token') && !usesCode) {
    throw invalidMetadata('refresh_token needs the authorization_code grant');
  }
  // RFC 7591 §2.1: response_types and grant_types must agree.
  if ((input.response_types?.length ?? (usesCode ? 1 : 0)) > 0 !== usesCode) {
    throw invalidMetadata('response_types code goes with the authorization_code grant, and only with it');
  }
  if (grantTypes.includes('client_credentials') && input.token_endpoint_auth_method === 'none') {
    throw invalidMetadata('client_credentials needs a confidential client (not token_endpoint_auth_method none)');
  }
  let scope: string | null = null;
  if (input.scope !== undefined) {
    const tokens = splitScope(input.scope);
    const unknown = tokens.find((token) => !isSupportedScope(token));
    if (unknown !== undefined) throw invalidMetadata(`unknown scope: ${unknown.slice(0, 64)}`);
    if (tokens.length === 0) throw invalidMetadata('scope is empty');
    scope = tokens.join(' ');
  }
  return { redirectUris, postLogoutRedirectUris, grantTypes, scope };
}

/** The registered metadata as returned to the owner (RFC 7591 §3.2.1); never the secret hash. */
export function clientMetadata(client: Client) {
  return {
    client_id: client.id,
    client_id_issued_at: client.createdAt,
    client_name: client.name,
    redirect_uris: client.redirectUris,
    ...(client.postLogoutRedirectUris.length > 0 ? { post_logout_redirect_uris: client.postLogoutRedirectUris } : {}),
    grant_types: client.grantTypes,
    response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    ...(client.scope !== null ? { scope: client.scope } : {}),
  };
}

/** Dynamic client registration (RFC 7591), for a user signed in with a user API token. */
export const register = new Hono<AppEnv>();

register.post(
  '/',
  limitBody,
  requireUserToken,
  requireContentType('application/json'),
  validate('json', registrationSchema, { code: 'invalid_client_metadata' }),
  async function registerClient(c) {
    await countAttempt(c.var.deps, 'registration', c.var.apiUser.userId);
    const input = c.req.valid('json');
    const { redirectUris, postLogoutRedirectUris, grantTypes, scope } = checkRegistration(input);
    const confidential = input.token_endpoint_auth_method !== 'none';
    // 256 bits of randomness, shown once; only its SHA-256 is kept.
    const secret = confidential ? randomSecret() : null;
    const client: Client = {
      id: randomSecret(16),
      ownerId: c.var.apiUser.userId,
      name: input.client_name ?? 'Unnamed app',
      secretHash: secret ? await hashSecret(secret) : null,
      tokenEndpointAuthMethod: input.token_endpoint_auth_method,
      redirectUris,
      postLogoutRedirectUris,
      grantTypes,
      scope,
      createdAt: now(),
      metadataExpiresAt: null,
    };
    await createClient(c.var.deps, client);
    const body = {
      ...clientMetadata(client),
      // RFC 7591 §3.2.1: 0 means the secret does not expire.
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    };
    return c.json(body, 201, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  },
);
