import { CLIENT_METADATA_FETCH_TIMEOUT, CLIENT_METADATA_MAX_BYTES, CLIENT_METADATA_MAX_TTL, CLIENT_METADATA_MIN_TTL } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { now } from '../lib/crypto';
import { type GuardedFetchProblem, guardedFetchJson } from '../lib/guarded-fetch';
import { describeIssues } from '../lib/issues';
import type { NetworkKey } from '../lib/network';
import { clientIdUrlProblem, isClientIdUrl } from '../lib/public-urls';
import { isClientDisabled } from '../storage/admin-clients';
import type { Client } from '../storage/schema';
import { checkClientMetadata, clientMetadataSchema, openRegistration, saveDocumentClient } from './clients';
import { countAttempt } from './rate-limits';

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
// which the MCP authorization spec names): a client_id that is an https URL
// is the address of the client's metadata (RFC 7591 §2 fields). Tollgate
// fetches it, checks it, and keeps it as a clients row whose id is the URL,
// owned by no one, until `metadata_expires_at`; so the common path is the one
// D1 read every client lookup makes, and no fetch.

/** Why a client ID metadata document cannot be used; the message is safe to show. */
export class ClientMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientMetadataError';
  }
}

/**
 * The client a public client's id names, given the row D1 has for it:
 * - an id that is not a URL: the row, as it is;
 * - a URL while OPEN_REGISTRATION is off: no client (only owned clients then);
 * - a URL whose row is fresh (before `metadata_expires_at`): the row;
 * - otherwise the document is fetched, checked and stored, and its client
 *   returned. Each fetch counts against the client network's
 *   OPEN_REGISTRATION_LIMITER (a fetch may register a client), so over it:
 *   OAuthError too_many_requests (429).
 * Throws ClientMetadataError when the document cannot be used.
 */
export async function resolveClient(
  deps: Deps,
  id: string,
  stored: Client | undefined,
  network: NetworkKey | null,
): Promise<Client | undefined> {
  if (!isClientIdUrl(id)) return stored;
  if (!openRegistration(deps.env)) return undefined;
  const at = now();
  if (stored && stored.metadataExpiresAt !== null && stored.metadataExpiresAt > at) return stored;
  // No row may mean an admin disabled it (the lookup skips disabled clients): then it is no client, as any
  // disabled client is, and its document is neither fetched nor stored over the row (one D1 read, only here).
  if (!stored && (await isClientDisabled(deps.db, id))) return undefined;
  const problem = clientIdUrlProblem(id);
  if (problem) throw new ClientMetadataError(`the client_id URL ${problem}`);
  // Locally (no CF-Connecting-IP) nothing is limited per network, as for sign-ups.
  if (network) await countAttempt(deps, 'openRegistration', network);
  const { document, maxAge } = await fetchDocument(id);
  const client = documentClient(id, document, stored?.createdAt ?? at, at + maxAge);
  await saveDocumentClient(deps, client, stored === undefined);
  return client;
}

/** What a document's fields make of a client, checked as a registration is (RFC 7591 §2) and by the draft's §4.1. */
function documentClient(id: string, document: unknown, createdAt: number, expiresAt: number): Client {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ClientMetadataError('the client metadata document is not a JSON object');
  }
  const fields = document as Record<string, unknown>;
  // Draft §4.1: the document names itself; compared as strings, exactly.
  if (fields.client_id !== id) throw new ClientMetadataError("the document's client_id is not the URL it was fetched from");
  // Draft §4.1: no shared secret can belong to a document anyone may read.
  if ('client_secret' in fields || 'client_secret_expires_at' in fields) {
    throw new ClientMetadataError('the document must not contain client_secret or client_secret_expires_at');
  }
  // A public client (none + PKCE); private_key_jwt may come later. Absent means none: no secret exists to use.
  const method = fields.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') throw new ClientMetadataError('token_endpoint_auth_method must be none (a public client using PKCE)');
  const parsed = clientMetadataSchema.safeParse({ ...fields, token_endpoint_auth_method: 'none' });
  if (!parsed.success) throw new ClientMetadataError(`the document is invalid: ${describeIssues(parsed.error.issues, { input: fields })}`);
  let checked: ReturnType<typeof checkClientMetadata>;
  try {
    checked = checkClientMetadata(parsed.data);
  } catch (error) {
    if (error instanceof OAuthError) throw new ClientMetadataError(`the document is invalid: ${error.message}`);
    throw error;
  }
  return {
    id,
    ownerId: null,
    // The name the app gave itself, shown as such and marked unverified; without one, the document's host.
    name: parsed.data.client_name ?? new URL(id).host,
    secretHash: null,
    tokenEndpointAuthMethod: 'none',
    redirectUris: checked.redirectUris,
    postLogoutRedirectUris: checked.postLogoutRedirectUris,
    grantTypes: checked.grantTypes,
    scope: checked.scope,
    createdAt,
    metadataExpiresAt: expiresAt,
    // Its document may ask for PAR; it is managed by its document, so it has no registration access token.
    requirePushedAuthorizationRequests: parsed.data.require_pushed_authorization_requests,
    registrationTokenHash: null,
    dpopBoundAccessTokens: parsed.data.dpop_bound_access_tokens,
    jwks: null,
    jwksUri: null,
    jwksUriCache: null,
    tokenEndpointAuthSigningAlg: null,
  };
}

/**
 * GETs the document under the guarded fetch's network-safety rules
 * (lib/guarded-fetch.ts, SECURITY.md): no redirect followed, done within
 * CLIENT_METADATA_FETCH_TIMEOUT, 200 JSON (`application/json` or any
 * `application/*+json`), dropped past CLIENT_METADATA_MAX_BYTES. Returns the
 * parsed JSON and how long it may be kept.
 */
async function fetchDocument(url: string): Promise<{ document: unknown; maxAge: number }> {
  const { body, headers } = await guardedFetchJson(url, {
    accept: 'application/json',
    acceptsType: (type) => type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type),
    timeout: CLIENT_METADATA_FETCH_TIMEOUT,
    maxBytes: CLIENT_METADATA_MAX_BYTES,
    refuse: (problem) => new ClientMetadataError(documentProblem(problem)),
  });
  return { document: body, maxAge: cacheLifetime(headers) };
}

/** A guarded fetch's problem, said of the client metadata document. */
function documentProblem(problem: GuardedFetchProblem): string {
  switch (problem.kind) {
    case 'not-public':
      return `the client_id URL ${problem.problem}`;
    case 'unreachable':
      return 'the client metadata document could not be fetched';
    case 'timeout':
      return `the client metadata document did not arrive within ${CLIENT_METADATA_FETCH_TIMEOUT} seconds`;
    case 'redirect':
      return 'the client metadata document URL answered with a redirect, which is not followed';
    case 'status':
      return `the client metadata document URL answered HTTP ${problem.status}`;
    case 'content-type':
      return 'the client metadata document is not JSON (Content-Type application/json)';
    case 'too-large':
      return `the client metadata document is larger than ${CLIENT_METADATA_MAX_BYTES} bytes`;
    case 'not-utf8':
      return 'the client metadata document is not UTF-8';
    case 'not-json':
      return 'the client metadata document is not valid JSON';
  }
}

/**
 * How long a document may be kept before it is fetched again (RFC 9111
 * §4.2.1): `no-store`/`no-cache` mean as short as allowed, then `max-age`,
 * then `Expires` less `Date`; clamped to CLIENT_METADATA_MIN_TTL..MAX_TTL so
 * a document is neither fetched on every request nor trusted for days.
 */
export function cacheLifetime(headers: Headers): number {
  const clamp = (seconds: number) => Math.min(CLIENT_METADATA_MAX_TTL, Math.max(CLIENT_METADATA_MIN_TTL, Math.floor(seconds)));
  const directives = (headers.get('Cache-Control') ?? '').toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)\b/.test(directives)) return CLIENT_METADATA_MIN_TTL;
  const maxAge = /(?:^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(directives)?.[1];
  if (maxAge !== undefined) return clamp(Number(maxAge));
  const expires = Date.parse(headers.get('Expires') ?? '');
  if (!Number.isNaN(expires)) {
    const date = Date.parse(headers.get('Date') ?? '');
    return clamp((expires - (Number.isNaN(date) ? Date.now() : date)) / 1000);
  }
  return CLIENT_METADATA_MIN_TTL;
}
