import { z } from 'zod';
import {
  BOOKS_API_PATH,
  DPOP_SIGNING_ALGS,
  MAX_RESOURCES_PER_REQUEST,
  MCP_PATH,
  PROTECTED_RESOURCE_METADATA_PREFIX,
  RESOURCE_MAX_LENGTH,
} from '../config';
import { OAuthError } from '../errors';
import { boundedString } from '../lib/params';

// The resource servers this issuer protects, and every rule about which one a
// token is for (RFC 8707 resource indicators, RFC 9728 protected resource
// metadata). A resource is named by its URI, the issuer plus its path; the
// access token's `aud` is that URI (RFC 9068 §3), so a token asked for one
// resource is refused by the other (RFC 8707 §1: audience restriction).

/** A protected resource this issuer serves: where it is and what its metadata says (RFC 9728 §2). */
export interface ProtectedResource {
  /** Its path under the issuer: the resource URI is the issuer plus this. */
  readonly path: string;
  /** RFC 9728 §2 `resource_name`. */
  readonly name: string;
  /** RFC 9728 §2 `scopes_supported`: the scopes its routes or tools ask for. */
  readonly scopes: readonly string[];
  /** RFC 9728 §2 `resource_documentation`, a path under the issuer, where there is a page for it. */
  readonly documentation?: string;
}

/** The books REST API: the default resource, the audience of a token that names none. */
export const BOOKS_API: ProtectedResource = {
  path: BOOKS_API_PATH,
  name: 'Tollgate books API',
  scopes: ['books:read', 'books:write'],
  documentation: '/demo',
};

/** The books as a Model Context Protocol server (Streamable HTTP). */
export const MCP_SERVER: ProtectedResource = {
  path: MCP_PATH,
  name: 'Tollgate books MCP server',
  scopes: ['books:read', 'books:write'],
};

/** Every resource a `resource` parameter may name, the default first. */
export const PROTECTED_RESOURCES: readonly ProtectedResource[] = [BOOKS_API, MCP_SERVER];

/** A resource's URI (RFC 8707 §2), its identifier and the `aud` of tokens for it. */
export function resourceUri(issuer: string, resource: ProtectedResource): string {
  return issuer + resource.path;
}

/** Every resource URI this issuer knows: the audiences an access token may carry. */
export function knownResourceUris(issuer: string): string[] {
  return PROTECTED_RESOURCES.map((resource) => resourceUri(issuer, resource));
}

/** The audience of a token that asked for no resource: the books API, as before resource indicators. */
export function defaultResourceUri(issuer: string): string {
  return resourceUri(issuer, BOOKS_API);
}

/** RFC 9728 §3.1: the metadata URL of a resource, its path inserted after the well-known prefix. */
export function resourceMetadataUrl(issuer: string, resource: ProtectedResource): string {
  return issuer + PROTECTED_RESOURCE_METADATA_PREFIX + resource.path;
}

/** RFC 9728 §2: a resource's metadata document. */
export function resourceMetadata(issuer: string, resource: ProtectedResource) {
  return {
    resource: resourceUri(issuer, resource),
    // §2: the issuers whose tokens it accepts (RFC 8414 issuer identifiers).
    authorization_servers: [issuer],
    scopes_supported: resource.scopes,
    // RFC 6750 §2.1 only: no form body or query tokens.
    bearer_methods_supported: ['header'],
    // RFC 9728 §2: DPoP-bound tokens are taken (RFC 9449 §7.1), Bearer tokens too.
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
    dpop_bound_access_tokens_required: false,
    resource_name: resource.name,
    ...(resource.documentation ? { resource_documentation: issuer + resource.documentation } : {}),
  };
}

/** One `resource` parameter value, bounded; its meaning is checked by `checkResources`. */
const resourceValue = boundedString(RESOURCE_MAX_LENGTH);

/**
 * The `resource` parameter: RFC 8707 §2 lets it repeat (one value per
 * resource), so unlike every other parameter it may arrive as an array.
 */
export const resourceParam = z.union([
  resourceValue,
  z.array(resourceValue).max(MAX_RESOURCES_PER_REQUEST, `may be sent at most ${MAX_RESOURCES_PER_REQUEST} times`),
]);

/**
 * The resources a request asks for, checked (RFC 8707 §2): each value an
 * absolute URI without a fragment, and one this issuer protects; repeats
 * count once. Null when none was sent (the default resource then applies).
 * Throws `invalid_target` otherwise.
 */
export function checkResources(issuer: string, sent: string | readonly string[] | undefined): string[] | null {
  if (sent === undefined) return null;
  const values = typeof sent === 'string' ? [sent] : sent;
  const known = knownResourceUris(issuer);
  for (const value of values) {
    // RFC 8707 §2: "an absolute URI ... MUST NOT include a fragment component".
    if (!URL.canParse(value) || value.includes('#')) {
      throw new OAuthError('invalid_target', { description: 'resource must be an absolute URI without a fragment (RFC 8707 §2)' });
    }
    // Exact match only: a URI that merely resolves to the same place is a different identifier.
    if (!known.includes(value)) {
      throw new OAuthError('invalid_target', { description: `resource ${value.slice(0, 200)} is not a resource this server protects` });
    }
  }
  return [...new Set(values)];
}

/**
 * The resources a token request may have (RFC 8707 §2.2): what it asks for,
 * when that is within what its grant holds (the code's or the refresh token's
 * resources; null: the default), else everything the grant holds. Throws
 * `invalid_target` for a resource the grant does not hold: narrowing is
 * allowed, widening never.
 */
export function narrowResources(issuer: string, requested: string[] | null, held: readonly string[] | null): string[] {
  const holding = held ?? [defaultResourceUri(issuer)];
  if (requested === null) return [...holding];
  const outside = requested.find((resource) => !holding.includes(resource));
  if (outside) {
    throw new OAuthError('invalid_target', { description: `resource ${outside} was not granted to this code or refresh token` });
  }
  return requested;
}

/** What a code or refresh token keeps: null for the default alone (as before resource indicators), else the list. */
export function storedResources(issuer: string, resources: readonly string[] | null): string[] | null {
  if (resources === null) return null;
  const fallback = defaultResourceUri(issuer);
  return resources.length === 1 && resources[0] === fallback ? null : [...resources];
}

/**
 * The names of the resources a request is for (RFC 9728 §2 `resource_name`),
 * for the consent page: the default resource when it names none.
 */
export function resourceNames(issuer: string, resources: readonly string[] | null): string[] {
  const asked = resources ?? [defaultResourceUri(issuer)];
  return PROTECTED_RESOURCES.filter((resource) => asked.includes(resourceUri(issuer, resource))).map((resource) => resource.name);
}

/** The access token's `aud` (RFC 9068 §2.2, RFC 8707 §2.2): the one resource, or all of them. */
export function audienceClaim(issuer: string, resources: readonly string[] | null): string | string[] {
  if (resources === null || resources.length === 0) return defaultResourceUri(issuer);
  return resources.length === 1 ? resources[0]! : [...resources];
}
