import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../env';
import { OAuthError } from '../../errors';
import { bearerToken, invalidToken, missingToken } from '../../helpers/bearer';
import { clientNetwork } from '../../helpers/client-ip';
import { clientIdParam } from '../../lib/params';
import { requireUserToken } from '../../middleware/bearer-auth';
import { limitBody, requireContentType } from '../../middleware/body';
import { validate } from '../../middleware/validate';
import {
  clientMetadataSchema,
  clientUpdateSchema,
  deleteRegisteredClient,
  managedClient,
  openRegistration,
  registerClient,
  registrationClientUri,
  updateClient,
} from '../../services/clients';
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
    require_pushed_authorization_requests: client.requirePushedAuthorizationRequests,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
    // RFC 7591 §2: a private_key_jwt client's public keys, as registered.
    ...(client.jwks !== null ? { jwks: client.jwks } : {}),
    ...(client.jwksUri !== null ? { jwks_uri: client.jwksUri } : {}),
    ...(client.tokenEndpointAuthSigningAlg !== null ? { token_endpoint_auth_signing_alg: client.tokenEndpointAuthSigningAlg } : {}),
  };
}

/**
 * RFC 7592 §3: the client information response: the metadata, where the
 * client manages it, and the registration access token to do it with (the
 * one just issued, or the one the request presented: only its hash is kept).
 * A client secret only when one was just issued (RFC 7591 §3.2.1; 0: it does
 * not expire).
 */
function clientInformation(c: Context<AppEnv>, client: Client, registrationToken: string, secret: string | null) {
  return {
    ...clientMetadata(client),
    ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    registration_client_uri: registrationClientUri(c.var.deps.issuer, client.id),
    registration_access_token: registrationToken,
  };
}

/** Answers that hold a secret or a registration access token are never cached (as RFC 6749 §5.1 says of tokens). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

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
  async function registerNewClient(c) {
    // Set by requireUserToken; absent for an anonymous registration.
    const apiUser: StandingUserApiToken | undefined = c.get('apiUser');
    if (apiUser) await countAttempt(c.var.deps, 'registration', apiUser.userId);
    const input = c.req.valid('json');
    if (!apiUser && input.token_endpoint_auth_method !== 'none') throw confidentialNeedsToken();
    // The one place a client is made (the Register an app form on /account uses it too): the
    // metadata checked, a secret for secret-based methods and the RFC 7592 registration access
    // token, each 256 random bits shown once here; only their SHA-256 is kept.
    const { client, secret, registrationToken } = await registerClient(c.var.deps, apiUser?.userId ?? null, input);
    return c.json(clientInformation(c, client, registrationToken, secret), 201, NO_STORE);
  },
);

// The client configuration endpoint (RFC 7592 §2): GET reads, PUT replaces,
// DELETE removes a client, each with the client's registration access token
// as a Bearer token. A missing, malformed or wrong token, and a client id
// that does not exist, are all the same 401 invalid_token (RFC 6750 §3.1):
// without its token nobody learns whether a client exists. A client ID
// metadata document's client has no token: its document manages it.

const configurationPath = '/:client_id';

/** The registration access token of the request (RFC 6750 §2.1), or 401 without one. */
function registrationToken(c: Context<AppEnv>): string {
  const token = bearerToken(c);
  if (!token) throw missingToken();
  return token;
}

/**
 * Authenticates a configuration endpoint request before anything else is
 * read: the client named in the path, if the Bearer token is its
 * registration access token (set as `c.var.client`); 401 otherwise.
 */
const registeredClient: MiddlewareHandler<AppEnv> = async function registeredClient(c, next) {
  const clientId = c.req.param('client_id') ?? '';
  const token = registrationToken(c);
  const client = clientIdParam.safeParse(clientId).success ? await managedClient(c.var.deps, clientId, token) : undefined;
  if (!client) throw invalidToken('the registration access token is not valid for this client');
  c.set('client', client);
  await next();
};

register.get(configurationPath, registeredClient, async function readClient(c) {
  // RFC 7592 §2.1: the stored secret is a hash, so it is never in the answer.
  return c.json(clientInformation(c, c.var.client, registrationToken(c), null), 200, NO_STORE);
});

register.put(
  configurationPath,
  limitBody,
  registeredClient,
  requireContentType('application/json'),
  validate('json', clientUpdateSchema, { code: 'invalid_client_metadata' }),
  async function replaceClient(c) {
    const token = registrationToken(c);
    const updated = await updateClient(c.var.deps, c.var.client, token, c.req.valid('json'));
    // Deleted between the lookup and the update: as if the token were wrong.
    if (!updated) throw invalidToken('the registration access token is not valid for this client');
    return c.json(clientInformation(c, updated.client, token, updated.secret), 200, NO_STORE);
  },
);

register.delete(configurationPath, registeredClient, async function removeClient(c) {
  await deleteRegisteredClient(c.var.deps, c.var.client.id, registrationToken(c));
  // RFC 7592 §2.3: 204, and the client and its registration access token are gone.
  return c.body(null, 204, { 'Cache-Control': 'no-store' });
});
