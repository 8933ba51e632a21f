import { Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { clientNetwork } from '../../helpers/client-ip';
import { hashSecret, now, randomSecret } from '../../lib/crypto';
import { requireUserToken } from '../../middleware/bearer-auth';
import { limitBody, requireContentType } from '../../middleware/body';
import { validate } from '../../middleware/validate';
import { checkClientMetadata, clientMetadataSchema, createClient, openRegistration } from '../../services/clients';
import { countAttempt } from '../../services/rate-limits';
import type { StandingUserApiToken } from '../../services/user-api-tokens';
import type { Client } from '../../storage/schema';

/**
 * Who registers: a user with a user API token (RFC 7591 §3: the endpoint may
 * take an initial access token), or, under open registration, nobody. Any
 * Authorization header at all is checked as a user API token: a garbage one
 * is 401, never read as "anonymous". Anonymous registrations count against
 * the client network's OPEN_REGISTRATION_LIMITER before the body is read.
 */
const registrant: MiddlewareHandler<AppEnv> = async function registrant(c, next) {
  const deps = c.var.deps;
  if (c.req.header('Authorization') !== undefined || !openRegistration(deps.env)) return requireUserToken(c, next);
  // Locally (no CF-Connecting-IP) nothing is limited per network, as for sign-ups.
  const network = clientNetwork(c);
  if (network) await countAttempt(deps, 'openRegistration', network);
  await next();
};

/**
 * RFC 6750 §3.1: an anonymous request for a confidential client lacks the
 * authentication that registration needs (a client secret is issued only to
 * a user who answers for it), so it is 401 with the Bearer challenge, as a
 * request without a token always was; RFC 7591 §3.2.2's invalid_client_metadata
 * would wrongly say the metadata itself is bad.
 */
function confidentialNeedsToken(): OAuthError {
  return new OAuthError('invalid_token', {
    status: 401,
    description:
      'registering a confidential client needs a user API token (Authorization: Bearer, from /api/login); ' +
      'without one, only a public client may register: token_endpoint_auth_method none, with PKCE',
    headers: { 'WWW-Authenticate': 'Bearer realm="tollgate"' },
  });
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

/**
 * Dynamic client registration (RFC 7591): for a user signed in with a user
 * API token, any client they will own; without a token, under open
 * registration (OPEN_REGISTRATION=public), a public client owned by no one,
 * which the consent page marks unverified.
 */
export const register = new Hono<AppEnv>();

register.post(
  '/',
  limitBody,
  registrant,
  requireContentType('application/json'),
  validate('json', clientMetadataSchema, { code: 'invalid_client_metadata' }),
  async function registerClient(c) {
    // Set by requireUserToken; absent for an anonymous registration.
    const apiUser: StandingUserApiToken | undefined = c.get('apiUser');
    if (apiUser) await countAttempt(c.var.deps, 'registration', apiUser.userId);
    const input = c.req.valid('json');
    if (!apiUser && input.token_endpoint_auth_method !== 'none') throw confidentialNeedsToken();
    const { redirectUris, postLogoutRedirectUris, grantTypes, scope } = checkClientMetadata(input);
    const confidential = input.token_endpoint_auth_method !== 'none';
    // 256 bits of randomness, shown once; only its SHA-256 is kept.
    const secret = confidential ? randomSecret() : null;
    const client: Client = {
      id: randomSecret(16),
      ownerId: apiUser?.userId ?? null,
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
