import type { JSONWebKeySet } from 'jose';
import { z } from 'zod';
import type { Bindings } from '../bindings';
import {
  ANONYMOUS_CLIENT_IDLE_TTL,
  CLIENT_ASSERTION_ALGS,
  CLIENT_AUTH_METHODS,
  CLIENT_NAME_MAX_LENGTH,
  DEVICE_CODE_GRANT_TYPE,
  GRANT_TYPES,
  MAX_REDIRECT_URIS,
  REGISTRATION_PATH,
} from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { hashSecret, now, randomSecret, timingSafeEqual } from '../lib/crypto';
import { clientIdParam, clientSecretParam, redirectUriParam, scopeParam } from '../lib/params';
import { auditStatement, recordAudit } from '../storage/audit';
import {
  corsOrigins,
  deleteClientByRegistrationToken,
  deleteClientCredentialsGrantStatement,
  deleteClientOfOwner,
  deleteClientOriginsStatement,
  deleteIdleUnownedClients,
  deletePendingCodesStatement,
  findClientByRegistrationToken,
  findClientOfOwner,
  insertClientOriginsStatement,
  insertClientStatement,
  replaceClientSecretStatement,
  updateOwnedClientStatement,
  updateRegisteredClientStatement,
  upsertDocumentClientStatement,
} from '../storage/clients';
import type { Db } from '../storage/db';
import { clientCredentialsGrantStatement } from '../storage/grants';
import { deleteUnusedOfClientStatement } from '../storage/pushed-requests';
import type { Client } from '../storage/schema';
import { ClientAssertionError, checkJwks, jwksUriProblem, keyFitsAlg } from './client-keys';
import { redirectUriProblem } from './redirect-uris';
import { isSupportedScope, splitScope } from './scopes';

/**
 * RFC 7591 §2 client metadata, as registered (routes/oauth/register.ts) or
 * read from a client ID metadata document (client-metadata-documents.ts).
 * Unknown fields are ignored (§2: the server "MUST ignore any client metadata
 * ... that it does not understand").
 */
export const clientMetadataSchema = z.object({
  redirect_uris: z.array(redirectUriParam).max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`).optional(),
  post_logout_redirect_uris: z
    .array(redirectUriParam)
    .max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} post-logout redirect URIs`)
    .optional(),
  client_name: z.string().trim().min(1).max(CLIENT_NAME_MAX_LENGTH).optional(),
  token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).default('client_secret_basic'),
  // No more entries than there are grant types (checkClientMetadata folds duplicates).
  grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length).default(['authorization_code']),
  response_types: z.array(z.literal('code', 'only the code response type is supported')).max(1).optional(),
  scope: scopeParam.optional(),
  // RFC 9126 §6: this client's authorization requests must come through PAR.
  require_pushed_authorization_requests: z.boolean().default(false),
  // RFC 9449 §5.2: this client's token requests must carry a DPoP proof.
  dpop_bound_access_tokens: z.boolean().default(false),
  // RFC 7591 §2, for private_key_jwt (RFC 7523 §2.2): the client's public keys, by value or by
  // reference; checked by checkClientKeys (a JWK Set is too varied for zod to say it well).
  jwks: z.unknown().optional(),
  jwks_uri: redirectUriParam.optional(),
  token_endpoint_auth_signing_alg: z.enum(CLIENT_ASSERTION_ALGS).optional(),
});
export type ClientMetadataInput = z.infer<typeof clientMetadataSchema>;

function invalidMetadata(description: string): OAuthError {
  return new OAuthError('invalid_client_metadata', { description });
}

/** The key fields of a client as registered: set only for private_key_jwt. */
export type ClientKeys = Pick<Client, 'jwks' | 'jwksUri' | 'tokenEndpointAuthSigningAlg'>;

/**
 * The keys of a `private_key_jwt` client (RFC 7523 §2.2, RFC 7591 §2):
 * exactly one of `jwks` (public signature keys only, services/client-keys.ts
 * checkJwks) and `jwks_uri` (https to a public host: the SSRF rules of
 * client ID metadata documents), and an optional
 * `token_endpoint_auth_signing_alg` that one of the registered keys can
 * use. Any other method keeps no keys (they are ignored): Tollgate uses them
 * for nothing else, and a client with both a secret and keys would have two
 * ways in. Throws invalid_client_metadata.
 */
export async function checkClientKeys(
  input: Pick<ClientMetadataInput, 'token_endpoint_auth_method' | 'jwks' | 'jwks_uri' | 'token_endpoint_auth_signing_alg'>,
): Promise<ClientKeys> {
  const { jwks, jwks_uri: jwksUri, token_endpoint_auth_signing_alg: alg } = input;
  // Other methods: RFC 7591 §2 lets a client register keys for uses Tollgate
  // has none of (request objects, encryption), so they are ignored, not
  // stored: a secret client never gains a second way in through them.
  if (input.token_endpoint_auth_method !== 'private_key_jwt') return { jwks: null, jwksUri: null, tokenEndpointAuthSigningAlg: null };
  // RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present".
  if ((jwks === undefined) === (jwksUri === undefined)) throw invalidMetadata('private_key_jwt needs exactly one of jwks and jwks_uri');
  if (jwksUri !== undefined) {
    const problem = jwksUriProblem(jwksUri);
    if (problem) throw invalidMetadata(`jwks_uri ${problem}`);
    return { jwks: null, jwksUri, tokenEndpointAuthSigningAlg: alg ?? null };
  }
  let set: JSONWebKeySet;
  try {
    set = await checkJwks(jwks, 'jwks');
  } catch (error) {
    if (error instanceof ClientAssertionError) throw invalidMetadata(error.message);
    throw error;
  }
  if (alg !== undefined && !set.keys.some((key) => keyFitsAlg(key, alg))) {
    throw invalidMetadata(`no key in jwks can sign with token_endpoint_auth_signing_alg ${alg}`);
  }
  return { jwks: set, jwksUri: null, tokenEndpointAuthSigningAlg: alg ?? null };
}

/** Whether a client's secret is what it authenticates with (RFC 7591 §2): the two secret methods, not `none` nor a key. */
export function usesSecret(method: Client['tokenEndpointAuthMethod']): boolean {
  return method === 'client_secret_basic' || method === 'client_secret_post';
}

/**
 * The checks zod cannot express: how the fields fit together (RFC 7591
 * §2.1), and every redirect URI by the rules of services/redirect-uris.ts.
 * Throws OAuthError (invalid_redirect_uri, invalid_client_metadata).
 */
export function checkClientMetadata(input: ClientMetadataInput) {
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
  // A refresh token comes from a user's grant: the code flow's or the device flow's (RFC 8628 §3.5).
  // A client registered only for the device grant needs no redirect_uris: it is never redirected to.
  if (grantTypes.includes('refresh_token') && !usesCode && !grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
    throw invalidMetadata(`refresh_token needs the authorization_code or ${DEVICE_CODE_GRANT_TYPE} grant`);
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

/**
 * Whether clients that belong to no one are allowed: open registration and
 * client ID metadata documents. `OPEN_REGISTRATION` is `public` by default
 * (unset included); any other value, `off` or a misspelling, turns them off,
 * so a typo fails closed.
 */
export function openRegistration(env: Pick<Bindings, 'OPEN_REGISTRATION'>): boolean {
  return (env.OPEN_REGISTRATION ?? 'public') === 'public';
}

/**
 * Registers a client in one D1 batch (one transaction), so a client never
 * exists half made: its row, the origins CORS will allow for it (a public
 * client's web redirect origins), its own grant when it may use
 * client_credentials (the grant its tokens are issued under), and the audit
 * event `client_created` (with no user for a client nobody owns).
 */
export async function createClient(deps: Deps, client: Client): Promise<void> {
  const { db } = deps;
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  await db.batch([
    insertClientStatement(db, client),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    ...(client.grantTypes.includes('client_credentials') ? [clientCredentialsGrantStatement(db, client.id)] : []),
    auditStatement(db, { type: 'client_created', userId: client.ownerId, clientId: client.id }),
  ]);
}

/**
 * Stores a client read from its client ID metadata document, new or
 * refreshed, in one D1 batch: the row and its CORS origins (deleted and
 * written anew, as the document may have changed its redirect URIs) change
 * together or not at all. The first time, `client_created` is audited with it.
 */
export async function saveDocumentClient(deps: Deps, client: Client, isNew: boolean): Promise<void> {
  const { db } = deps;
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  await db.batch([
    upsertDocumentClientStatement(db, client),
    deleteClientOriginsStatement(db, client.id),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    ...(isNew ? [auditStatement(db, { type: 'client_created', userId: null, clientId: client.id })] : []),
  ]);
}

/**
 * Deletes one of the owner's clients, and with it everything issued to it
 * (see `deleteClientOfOwner`), audited `client_deleted`. The event follows the
 * deletion in its own round trip: it is recorded only when the DELETE found
 * the client. Returns false when the owner has no such client.
 */
export async function removeClient(deps: Deps, ownerId: string, clientId: string): Promise<boolean> {
  if (!(await deleteClientOfOwner(deps.db, ownerId, clientId))) return false;
  await recordAudit(deps.db, { type: 'client_deleted', userId: ownerId, clientId });
  return true;
}

/**
 * The Cron Trigger's sweep: clients nobody owns that were created more than
 * ANONYMOUS_CLIENT_IDLE_TTL before `at` and have had no grant made or used
 * since are deleted with what was issued to them. Anyone may register such a
 * client, so abandoned ones must not pile up. Returns how many went.
 */
export async function pruneIdleUnownedClients(deps: Deps, at: number): Promise<number> {
  return deleteIdleUnownedClients(deps.db, at - ANONYMOUS_CLIENT_IDLE_TTL);
}

// RFC 7592: a registered client manages its own registration at its client
// configuration endpoint, {ISSUER}/oauth2/register/<client_id>, with the
// registration access token issued with the registration. The token is a
// bearer secret of 256 bits; only its SHA-256 is kept (clients.registration_token_hash).

/** RFC 7592 §3 `registration_client_uri`: the client's configuration endpoint. */
export function registrationClientUri(issuer: string, clientId: string): string {
  return `${issuer}${REGISTRATION_PATH}/${encodeURIComponent(clientId)}`;
}

/** A new registration access token (RFC 7592 §3), shown once, and the hash that is stored. */
export async function newRegistrationToken(): Promise<{ token: string; hash: string }> {
  const token = randomSecret();
  return { token, hash: await hashSecret(token) };
}

/**
 * The client `clientId` if `token` is its registration access token; else
 * undefined, the same for an unknown client as for a wrong token (RFC 7592
 * §2.1: 401 either way, so a token holder learns nothing of other clients).
 */
export async function managedClient(deps: Deps, clientId: string, token: string): Promise<Client | undefined> {
  return findClientByRegistrationToken(deps.db, clientId, await hashSecret(token));
}

/**
 * RFC 7592 §2.2: the update request is the full metadata, with the client's
 * own client_id and, if sent, its current client_secret. The fields the
 * server sets are taken as they come so that sending one is refused by name
 * (updateClient), not silently dropped.
 */
export const clientUpdateSchema = clientMetadataSchema.extend({
  client_id: clientIdParam.optional(),
  client_secret: clientSecretParam.optional(),
  registration_access_token: z.unknown().optional(),
  registration_client_uri: z.unknown().optional(),
  client_secret_expires_at: z.unknown().optional(),
  client_id_issued_at: z.unknown().optional(),
});
export type ClientUpdateInput = z.infer<typeof clientUpdateSchema>;

/** RFC 7592 §2.2: the client "MUST NOT include" these in an update. */
const SERVER_SET_FIELDS = [
  'registration_access_token',
  'registration_client_uri',
  'client_secret_expires_at',
  'client_id_issued_at',
] as const;

/**
 * Replaces a client's metadata (RFC 7592 §2.2): the request is checked as a
 * registration is (checkClientMetadata), and omitted fields take their
 * defaults, as "omitted fields MUST be treated as null or empty". The client
 * keeps its id, owner and registration access token. A client owned by no
 * one stays public (a secret is issued only to a user who answers for it, as
 * at registration); a public client that an owner turns confidential gets a
 * new secret, returned once; a confidential one keeps its secret (the client
 * "MUST NOT be allowed to overwrite its existing client secret").
 *
 * One D1 batch (one transaction), so nothing issued under the old metadata
 * outlives the change:
 * - the row, only while `token` is still the client's;
 * - its CORS origins, written anew from the new redirect URIs;
 * - its codes not yet redeemed for a redirect URI it no longer has (all of
 *   them when it no longer uses the code grant): such a code could only be
 *   redeemed with that URI;
 * - its pushed requests not yet used: they were checked against the old metadata;
 * - its own client_credentials grant, made when it registers for that grant,
 *   deleted (and with it the tokens it gave itself) when it drops it.
 * Browser requests already on their way re-check the redirect URI when they
 * come back from sign-in or consent (services/authorization.ts).
 * Returns the updated client and a new secret (or null); undefined when the
 * client was deleted meanwhile. Throws OAuthError for a bad request.
 */
export async function updateClient(
  deps: Deps,
  current: Client,
  token: string,
  input: ClientUpdateInput,
): Promise<{ client: Client; secret: string | null } | undefined> {
  const sent = SERVER_SET_FIELDS.find((field) => input[field] !== undefined);
  if (sent) throw new OAuthError('invalid_request', { description: `${sent} must not be sent in an update (RFC 7592 §2.2)` });
  if (input.client_id !== current.id) {
    throw new OAuthError('invalid_request', { description: "client_id must be sent, and be this client's (RFC 7592 §2.2)" });
  }
  if (input.client_secret !== undefined) {
    const matches = current.secretHash !== null && timingSafeEqual(await hashSecret(input.client_secret), current.secretHash);
    if (!matches) throw new OAuthError('invalid_request', { description: "client_secret does not match this client's (RFC 7592 §2.2)" });
  }
  const confidential = input.token_endpoint_auth_method !== 'none';
  if (confidential && current.ownerId === null) {
    throw invalidMetadata('a client registered without a user API token stays public: token_endpoint_auth_method none');
  }
  const { redirectUris, postLogoutRedirectUris, grantTypes, scope } = checkClientMetadata(input);
  const keys = await checkClientKeys(input);
  // A private_key_jwt client holds no secret; one that turns to a secret method gets a new one.
  const secretMethod = usesSecret(input.token_endpoint_auth_method);
  const secret = secretMethod && current.secretHash === null ? randomSecret() : null;
  const secretHash = !secretMethod ? null : secret ? await hashSecret(secret) : current.secretHash;
  const client: Client = {
    ...current,
    ...keys,
    // Keys fetched from jwks_uri stay only while it names the same document.
    jwksUriCache: keys.jwksUri !== null && keys.jwksUri === current.jwksUri ? current.jwksUriCache : null,
    name: input.client_name ?? 'Unnamed app',
    secretHash,
    tokenEndpointAuthMethod: input.token_endpoint_auth_method,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes,
    scope,
    requirePushedAuthorizationRequests: input.require_pushed_authorization_requests,
    dpopBoundAccessTokens: input.dpop_bound_access_tokens,
  };
  const { db } = deps;
  const [updated] = await db.batch([
    updateRegisteredClientStatement(db, client, await hashSecret(token)),
    ...metadataChangeStatements(db, current, client),
  ]);
  if (updated.length === 0) return undefined;
  // Like a deletion, recorded once the update found the client (a rare call: its own round trip).
  await recordAudit(db, { type: 'client_updated', userId: current.ownerId, clientId: client.id });
  return { client, secret };
}

/**
 * What must change with a client's metadata, after the update of its row in
 * the same D1 batch (see `updateClient`): its CORS origins written anew, its
 * codes pending for a redirect URI it no longer has deleted, its unused
 * pushed requests deleted, and its own client_credentials grant made or
 * deleted as it takes up or drops that grant.
 */
function metadataChangeStatements(db: Db, current: Client, client: Client) {
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  const usesCode = client.grantTypes.includes('authorization_code');
  const hadCredentials = current.grantTypes.includes('client_credentials');
  const hasCredentials = client.grantTypes.includes('client_credentials');
  return [
    deleteClientOriginsStatement(db, client.id),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    deletePendingCodesStatement(db, client.id, usesCode ? client.redirectUris : []),
    deleteUnusedOfClientStatement(db, client.id),
    ...(hasCredentials && !hadCredentials ? [clientCredentialsGrantStatement(db, client.id)] : []),
    ...(hadCredentials && !hasCredentials ? [deleteClientCredentialsGrantStatement(db, client.id)] : []),
  ] as const;
}

/**
 * Deletes a client through its configuration endpoint (RFC 7592 §2.3), and
 * with it everything issued to it, as DELETE /api/clients/:id does; audited
 * `client_deleted` (for its owner, if it has one) once the DELETE found it.
 * Returns false when `token` is not the registration access token of such a client.
 */
export async function deleteRegisteredClient(deps: Deps, clientId: string, token: string): Promise<boolean> {
  const deleted = await deleteClientByRegistrationToken(deps.db, clientId, await hashSecret(token));
  if (!deleted) return false;
  await recordAudit(deps.db, { type: 'client_deleted', userId: deleted.ownerId, clientId });
  return true;
}

/**
 * Registers a client for `ownerId` (null: nobody, under open registration)
 * from checked metadata (clientMetadataSchema): the one place a registered
 * client is made, for POST /oauth2/register and the Register an app form on
 * /account. The secret (confidential clients) and the RFC 7592 registration
 * access token are 256 random bits each, returned this once; only their
 * SHA-256 is kept. Throws OAuthError for metadata checkClientMetadata refuses.
 */
export async function registerClient(
  deps: Deps,
  ownerId: string | null,
  input: ClientMetadataInput,
): Promise<{ client: Client; secret: string | null; registrationToken: string }> {
  const { redirectUris, postLogoutRedirectUris, grantTypes, scope } = checkClientMetadata(input);
  const keys = await checkClientKeys(input);
  // A secret only for the methods that authenticate with one (RFC 7591 §2): not for `none`, nor for a key.
  const secret = usesSecret(input.token_endpoint_auth_method) ? randomSecret() : null;
  const registration = await newRegistrationToken();
  const client: Client = {
    id: randomSecret(16),
    ownerId,
    name: input.client_name ?? 'Unnamed app',
    secretHash: secret ? await hashSecret(secret) : null,
    tokenEndpointAuthMethod: input.token_endpoint_auth_method,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes,
    scope,
    createdAt: now(),
    metadataExpiresAt: null,
    requirePushedAuthorizationRequests: input.require_pushed_authorization_requests,
    registrationTokenHash: registration.hash,
    dpopBoundAccessTokens: input.dpop_bound_access_tokens,
    ...keys,
    jwksUriCache: null,
  };
  await createClient(deps, client);
  return { client, secret, registrationToken: registration.token };
}

/** What the owner may change of a client on /account: its name and redirect URIs. */
export interface OwnedClientChanges {
  name: string;
  redirectUris: string[];
}

/**
 * Changes the name and redirect URIs of one of the owner's clients. The rest
 * of its metadata is kept, and the whole is checked again as a registration
 * is (checkClientMetadata: a code-flow client needs a redirect URI, each URI
 * by the redirect URI rules). Written like an RFC 7592 update
 * (`metadataChangeStatements`: origins anew, codes pending for a dropped URI
 * deleted, unused pushed requests deleted) in one D1 batch guarded by the
 * owner, then audited `client_updated`. Returns the client, or undefined when
 * the owner has no such client; throws OAuthError for bad metadata.
 */
export async function updateClientOfOwner(
  deps: Deps,
  ownerId: string,
  clientId: string,
  changes: OwnedClientChanges,
): Promise<Client | undefined> {
  const { db } = deps;
  const current = await findClientOfOwner(db, ownerId, clientId);
  if (!current) return undefined;
  const { redirectUris } = checkClientMetadata({
    redirect_uris: changes.redirectUris,
    token_endpoint_auth_method: current.tokenEndpointAuthMethod,
    grant_types: current.grantTypes,
    require_pushed_authorization_requests: current.requirePushedAuthorizationRequests,
    dpop_bound_access_tokens: current.dpopBoundAccessTokens,
  });
  const client: Client = { ...current, name: changes.name, redirectUris };
  const [updated] = await db.batch([updateOwnedClientStatement(db, client, ownerId), ...metadataChangeStatements(db, current, client)]);
  if (updated.length === 0) return undefined;
  await recordAudit(db, { type: 'client_updated', userId: ownerId, clientId });
  return client;
}

/**
 * Gives one of the owner's confidential clients a new secret (256 random
 * bits, returned this once; only its SHA-256 is kept). The old secret stops
 * working with the write wherever the client is authenticated at the primary
 * (the token endpoint, revocation, PAR); introspection, which may read the
 * client's row at a replica, stops taking it within REPLICA_MAX_STALENESS,
 * as for any revocation (SECURITY.md, "Read replicas", rule 2). Tokens
 * already issued stay valid: the secret authenticates the client, it does
 * not stand for them. Audited `client_secret_rotated` once the update
 * found the client. Returns the secret and the client's name; undefined when
 * the owner has no such client with a secret (a public client has none to rotate).
 */
export async function rotateSecret(deps: Deps, ownerId: string, clientId: string): Promise<{ secret: string; name: string } | undefined> {
  const secret = randomSecret();
  const [updated] = await replaceClientSecretStatement(deps.db, ownerId, clientId, await hashSecret(secret));
  if (!updated) return undefined;
  await recordAudit(deps.db, { type: 'client_secret_rotated', userId: ownerId, clientId });
  return { secret, name: updated.name };
}
