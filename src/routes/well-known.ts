import { type Context, Hono } from 'hono';
import {
  ACR_VALUES_SUPPORTED,
  CLIENT_ASSERTION_ALGS,
  CLIENT_AUTH_METHODS,
  DEVICE_AUTHORIZATION_PATH,
  DPOP_SIGNING_ALGS,
  JWKS_EDGE_MAX_AGE,
  JWKS_MAX_AGE,
  METADATA_MAX_AGE,
  PAR_PATH,
  SIGNING_ALG,
  SUPPORTED_SCOPES,
} from '../config';
import type { AppEnv } from '../env';
import { SUPPORTED_GRANT_TYPES } from '../grants';
import { documentResponse, edgeKey, fromEdge, keepAtEdge, type PublicDocument, publicDocument } from '../helpers/edge-cache';
import { cors } from '../middleware/cors';
import { openRegistration } from '../services/clients';
import { getKeySet, keysLastChangedAt } from '../services/keys';
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
    // RFC 9126 §5: where clients push authorization requests; pushing is
    // optional server-wide, and required per client where it registered
    // require_pushed_authorization_requests (§6).
    pushed_authorization_request_endpoint: `${issuer}${PAR_PATH}`,
    require_pushed_authorization_requests: false,
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
    // RFC 8414 §2: the algorithms a private_key_jwt assertion may use at each endpoint (RFC 7523).
    token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    revocation_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    introspection_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    code_challenge_methods_supported: ['S256'],
    // RFC 9449 §5.1: the algorithms a DPoP proof may be signed with.
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'at_hash',
      'azp',
      'name',
      'email',
      'email_verified',
      'amr',
      'acr',
    ],
    // OIDC Discovery §3: the classes an ID token's `acr` may name (config.ts; README, "Two-factor sign-in").
    acr_values_supported: ACR_VALUES_SUPPORTED,
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

// The document depends only on the issuer and OPEN_REGISTRATION (and the code
// deployed), so each isolate serializes it, and hashes its ETag, once. It is
// not kept at the PoP: building it costs no storage call, and METADATA_MAX_AGE
// (config.ts) says why a client's copy cannot mislead it for long after a deploy.
const metadataDocuments = new Map<string, Promise<PublicDocument>>();

async function metadata(c: Context<AppEnv>) {
  const issuer = c.var.deps.issuer;
  const open = openRegistration(c.var.deps.env);
  const key = `${issuer} ${open}`;
  let document = metadataDocuments.get(key);
  if (document === undefined) {
    document = publicDocument(JSON.stringify(serverMetadata(issuer, open)));
    metadataDocuments.set(key, document);
  }
  return documentResponse(c, await document, METADATA_CACHE_CONTROL);
}

wellKnown.get('/oauth-authorization-server', metadata);
wellKnown.get('/openid-configuration', metadata);

const JWKS_CACHE_CONTROL = `public, max-age=${JWKS_MAX_AGE}`;
const JWKS_PATH = '/.well-known/jwks.json';

/**
 * The JWKS. A warm isolate has the keys in memory (KEY_CACHE_TTL); a cold one
 * would read D1, so the answer is kept at the PoP for JWKS_EDGE_MAX_AGE and a
 * cold isolate there answers from that copy with no D1 read. Why a copy that
 * old never lacks a key that signs: JWKS_EDGE_MAX_AGE in config.ts. Keys from
 * the SIGNING_KEY secret cost no D1 read, and a copy of them would outlive a
 * deploy that changes the secret, so those are never kept at the PoP.
 */
wellKnown.get('/jwks.json', async function jwks(c) {
  const { deps } = c.var;
  if (deps.env.SIGNING_KEY) {
    const keys = await getKeySet(deps);
    return documentResponse(c, await publicDocument(JSON.stringify({ keys: keys.jwks })), JWKS_CACHE_CONTROL);
  }
  const key = edgeKey(c, JWKS_PATH);
  const kept = await fromEdge(key, { maxAge: JWKS_EDGE_MAX_AGE, notBefore: keysLastChangedAt() });
  if (kept) return documentResponse(c, kept, JWKS_CACHE_CONTROL);
  const keys = await getKeySet(deps);
  const document = await publicDocument(JSON.stringify({ keys: keys.jwks }));
  await keepAtEdge(c, key, document, JWKS_EDGE_MAX_AGE);
  return documentResponse(c, document, JWKS_CACHE_CONTROL);
});
