import { type Context, Hono } from 'hono';
import { CLIENT_AUTH_METHODS, DEVICE_AUTHORIZATION_PATH, JWKS_MAX_AGE, METADATA_MAX_AGE, SIGNING_ALG, SUPPORTED_SCOPES } from '../config';
import type { AppEnv } from '../env';
import { SUPPORTED_GRANT_TYPES } from '../grants';
import { cors } from '../middleware/cors';
import { openRegistration } from '../services/clients';
import { getKeySet } from '../services/keys';
import { knownResourceUris } from '../services/resources';

/**
 * The facts a client needs, from the issuer alone. RFC 8414 §2 and OIDC
 * Discovery 1.0 §3 share most fields, so both paths serve the same document.
 */
export function serverMetadata(issuer: string, openRegistrationOn = true) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth2/authorize`,
    token_endpoint: `${issuer}/oauth2/token`,
    // RFC 8628 §4: where devices start the device authorization grant.
    device_authorization_endpoint: `${issuer}${DEVICE_AUTHORIZATION_PATH}`,
    userinfo_endpoint: `${issuer}/oauth2/userinfo`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    registration_endpoint: `${issuer}/oauth2/register`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    end_session_endpoint: `${issuer}/oauth2/logout`,
    scopes_supported: SUPPORTED_SCOPES,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    // RFC 7662 §2.1: introspection needs real client authentication.
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.filter((method) => method !== 'none'),
    code_challenge_methods_supported: ['S256'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'azp', 'name', 'email', 'email_verified'],
    prompt_values_supported: ['none', 'login', 'consent'],
    // RFC 9207 §3: clients may rely on `iss` in every authorization response.
    authorization_response_iss_parameter_supported: true,
    // RFC 9728 §4: the protected resources this server issues tokens for,
    // the values `resource` (RFC 8707) may take; each has its own metadata
    // at /.well-known/oauth-protected-resource/<path> (RFC 9728 §3.1).
    protected_resources: knownResourceUris(issuer),
    // draft-ietf-oauth-client-id-metadata-document §5: a client_id may be the
    // https URL of the client's metadata. Like open registration (a public
    // client registered without a token at registration_endpoint), it is on
    // unless OPEN_REGISTRATION is off.
    client_id_metadata_document_supported: openRegistrationOn,
  };
}

export const wellKnown = new Hono<AppEnv>();

// Public documents: any origin may read them.
wellKnown.use(cors({ origins: 'any' }));

const METADATA_CACHE_CONTROL = `public, max-age=${METADATA_MAX_AGE}`;

// The document depends only on the issuer and OPEN_REGISTRATION, so each isolate serializes it once.
const metadataJson = new Map<string, string>();

function metadata(c: Context<AppEnv>) {
  const issuer = c.var.deps.issuer;
  const open = openRegistration(c.var.deps.env);
  const key = `${issuer} ${open}`;
  let body = metadataJson.get(key);
  if (body === undefined) {
    body = JSON.stringify(serverMetadata(issuer, open));
    metadataJson.set(key, body);
  }
  return c.body(body, 200, { 'Content-Type': 'application/json', 'Cache-Control': METADATA_CACHE_CONTROL });
}

wellKnown.get('/oauth-authorization-server', metadata);
wellKnown.get('/openid-configuration', metadata);

wellKnown.get('/jwks.json', async function jwks(c) {
  const keys = await getKeySet(c.var.deps);
  return c.json({ keys: keys.jwks }, 200, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE}` });
});
