import type { Context } from 'hono';
import { decodeJwt } from 'jose';
import { CLIENT_ASSERTION_MAX_LENGTH, CLIENT_ASSERTION_TYPE, CLIENT_ID_MAX_LENGTH, type GrantType, TOKEN_PATH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientNetwork } from '../helpers/client-ip';
import { hashSecret, now, timingSafeEqual } from '../lib/crypto';
import { boundedString, clientIdParam, clientSecretParam, keywordParam } from '../lib/params';
import { isClientIdUrl } from '../lib/public-urls';
import { isReplayedAssertion, type PendingClient, spendAssertionAlone, spendAssertionStatement } from '../services/client-authentication';
import {
  assertionReplayed,
  ClientAssertionError,
  type ClientAssertionRow,
  clientAssertionRow,
  spendClientAssertion,
  verifyClientAssertion,
} from '../services/client-keys';
import { ClientMetadataError, resolveClient } from '../services/client-metadata-documents';
import { openRegistration } from '../services/clients';
import { countAttempt, fromNetwork } from '../services/rate-limits';
import { type ClientGuard, findClient } from '../storage/clients';
import type { Client } from '../storage/schema';

/** The body fields a client may authenticate with (RFC 6749 §2.3.1), for every endpoint's schema. */
export const clientCredentialFields = {
  client_id: clientIdParam.optional(),
  client_secret: clientSecretParam.optional(),
  // RFC 7521 §4.2 / RFC 7523 §2.2: private_key_jwt.
  client_assertion_type: keywordParam.optional(),
  client_assertion: boundedString(CLIENT_ASSERTION_MAX_LENGTH).optional(),
};

export interface ClientCredentials {
  client_id?: string | undefined;
  client_secret?: string | undefined;
  client_assertion_type?: string | undefined;
  client_assertion?: string | undefined;
}

/**
 * RFC 6749 §5.2: a client that tried the Authorization header gets 401 with
 * WWW-Authenticate; the others get 401 too, so no method answers differently.
 */
function invalidClient(description = 'client authentication failed'): OAuthError {
  return new OAuthError('invalid_client', {
    status: 401,
    description,
    headers: { 'WWW-Authenticate': 'Basic realm="tollgate", charset="UTF-8"' },
  });
}

/**
 * A failed client authentication, counted per client_id and client network
 * (an IPv4 address or an IPv6 /64): past the limit (20 a minute), that
 * network's failures for that client are answered 429 `too_many_requests`
 * with Retry-After (RFC 6585 §4) instead of 401. It is a brake on a caller
 * that keeps failing, not a lock: every request's secret is still checked and
 * the right one accepted from any network. Client secrets are 256 bits, so
 * guessing is hopeless anyway, and the real client, wherever it is, must never
 * be shut out by someone else's noise.
 */
async function failed(c: Context<AppEnv>, clientId: string, description?: string): Promise<never> {
  const subject = fromNetwork(clientId.slice(0, CLIENT_ID_MAX_LENGTH), clientNetwork(c));
  await countAttempt(c.var.deps, 'clientAuth', subject);
  throw invalidClient(description);
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function parseBasic(header: string): { id: string; secret: string } {
  const encoded = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header)?.[1];
  if (!encoded) throw invalidClient('the Authorization header is not valid Basic credentials');
  let decoded: string;
  try {
    decoded = atob(encoded);
  } catch {
    throw invalidClient('the Authorization header is not valid base64');
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('Basic credentials must be client_id:client_secret');
  try {
    const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient('Basic credentials are not form-urlencoded');
  }
}

/** The client credentials a request presents, parsed, not yet checked. */
export interface PresentedClient {
  id: string;
  secret: string | undefined;
  method: Client['tokenEndpointAuthMethod'];
  /** The signed client assertion, for `private_key_jwt` (RFC 7523 §2.2); not yet verified. */
  assertion?: string | undefined;
  /** Whether `id` can name a client at all (a Basic header's id is not length-checked by a schema); if not, no lookup is made. */
  lookup: boolean;
}

/**
 * Authenticates the client at the token, revocation and introspection
 * endpoints: `client_secret_basic`, `client_secret_post`, `private_key_jwt`
 * (RFC 7523 §2.2: a signed assertion, whose `jti` is spent in D1, one write),
 * or `none` for a public client, each only for a client registered with that
 * method. RFC 6749 §2.3: a client uses exactly one method per request. Sets
 * `c.var.client`.
 */
export async function authenticateClient(c: Context<AppEnv>, body: ClientCredentials): Promise<Client> {
  const presented = presentedClient(c, body);
  const client = await checkClient(c, presented, presented.lookup ? await findClient(c.var.deps.db, presented.id) : undefined);
  // CORS (cors.ts) names the authenticated client's origin on the response.
  c.set('client', client);
  return client;
}

/**
 * The credentials of the request (the first half of `authenticateClient`),
 * for an endpoint that reads the client row in a batch with its own reads.
 * Malformed or doubled credentials are refused here; nothing is looked up.
 */
export function presentedClient(c: Context<AppEnv>, body: ClientCredentials): PresentedClient {
  const header = c.req.header('Authorization');
  if (body.client_assertion !== undefined || body.client_assertion_type !== undefined) return presentedAssertion(header, body);
  let method: Client['tokenEndpointAuthMethod'];
  let id: string;
  let secret: string | undefined;
  if (header) {
    if (body.client_secret !== undefined) {
      throw new OAuthError('invalid_request', { description: 'use one client authentication method, not two (RFC 6749 §2.3)' });
    }
    ({ id, secret } = parseBasic(header));
    if (body.client_id !== undefined && body.client_id !== id) {
      throw new OAuthError('invalid_request', { description: 'client_id does not match the Authorization header' });
    }
    method = 'client_secret_basic';
  } else if (body.client_id === undefined) {
    throw invalidClient('client authentication is required');
  } else {
    id = body.client_id;
    secret = body.client_secret;
    method = secret === undefined ? 'none' : 'client_secret_post';
  }
  return { id, secret, method, lookup: id.length <= CLIENT_ID_MAX_LENGTH };
}

/**
 * A `private_key_jwt` client's credentials (RFC 7523 §2.2): the assertion,
 * whose `sub` names the client (§3 item 2), read without verifying it (the
 * keys are in the client's row). Signature and claims are checked by
 * `checkClient` (services/client-keys.ts).
 */
function presentedAssertion(header: string | undefined, body: ClientCredentials): PresentedClient {
  if (header !== undefined || body.client_secret !== undefined) {
    throw new OAuthError('invalid_request', { description: 'use one client authentication method, not two (RFC 6749 §2.3)' });
  }
  if (body.client_assertion === undefined || body.client_assertion_type === undefined) {
    throw new OAuthError('invalid_request', { description: 'client_assertion and client_assertion_type go together (RFC 7521 §4.2)' });
  }
  // RFC 7521 §4.2.1: an assertion type the server does not support is invalid_client.
  if (body.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw invalidClient(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(body.client_assertion);
  } catch {
    throw invalidClient('client_assertion is not a JWT (RFC 7523 §2.2)');
  }
  const { iss, sub } = claims;
  if (typeof sub !== 'string' || sub === '') throw invalidClient("the client assertion's sub must be the client_id (RFC 7523 §3)");
  if (iss !== sub) throw invalidClient("the client assertion's iss and sub must both be the client_id (RFC 7523 §3)");
  // RFC 7521 §4.2: a client_id sent beside the assertion must name the same client.
  if (body.client_id !== undefined && body.client_id !== sub) throw invalidClient("client_id does not match the client assertion's sub");
  return {
    id: sub,
    secret: undefined,
    assertion: body.client_assertion,
    method: 'private_key_jwt',
    lookup: sub.length <= CLIENT_ID_MAX_LENGTH,
  };
}

/**
 * The audiences a client assertion may name here (RFC 7523 §3 item 3): the
 * issuer identifier (draft-ietf-oauth-rfc7523bis: what it should be), the
 * token endpoint, or the URL of the endpoint called, each built from the
 * configured issuer, never from the request's Host.
 */
function assertionAudiences(c: Context<AppEnv>): string[] {
  const { issuer } = c.var.deps;
  return [...new Set([issuer, `${issuer}${TOKEN_PATH}`, `${issuer}${c.req.path}`])];
}

/**
 * Verifies a `private_key_jwt` client's assertion against its row (whose
 * method is already known to be private_key_jwt) and spends its `jti` (one
 * D1 write). A bad or replayed assertion is invalid_client, counted like a
 * wrong secret.
 */
async function checkAssertion(c: Context<AppEnv>, presented: PresentedClient, client: Client): Promise<Client> {
  try {
    const verified = await verifyClientAssertion(c.var.deps, client, presented.assertion ?? '', assertionAudiences(c));
    await spendClientAssertion(c.var.deps, client.id, verified);
  } catch (error) {
    if (error instanceof ClientAssertionError) return failed(c, presented.id, error.message);
    throw error;
  }
  return client;
}

/**
 * Checks presented credentials against the client's row (the second half of
 * `authenticateClient`); `stored` is undefined when D1 has no such client. A
 * public client (`none`) whose id is a client ID metadata document URL is
 * taken from its document when the row is missing or stale
 * (services/client-metadata-documents.ts); a document that cannot be used is
 * invalid_client, saying why.
 */
export async function checkClient(c: Context<AppEnv>, presented: PresentedClient, stored: Client | undefined): Promise<Client> {
  const { id, method } = presented;
  let client = stored;
  if (method === 'none' && presented.lookup) {
    try {
      client = await resolveClient(c.var.deps, id, stored, clientNetwork(c));
    } catch (error) {
      if (error instanceof ClientMetadataError) return failed(c, id, error.message);
      throw error;
    }
  }
  return checkCredentials(c, presented, client);
}

/** The method and secret rules of `checkClient`, over a row taken as it is. */
async function checkCredentials(c: Context<AppEnv>, presented: PresentedClient, client: Client | undefined): Promise<Client> {
  const { id, secret, method } = presented;
  if (!client || client.tokenEndpointAuthMethod !== method) {
    // Hash anyway, so an unknown client costs the same as a wrong secret.
    if (secret !== undefined) await hashSecret(secret);
    return failed(c, id);
  }
  if (method === 'private_key_jwt') return checkAssertion(c, presented, client);
  if (method !== 'none') {
    if (!client.secretHash || !timingSafeEqual(await hashSecret(secret ?? ''), client.secretHash)) return failed(c, id);
  }
  return client;
}

/** RFC 6749 §5.2: an authenticated client that is not registered for the grant type it uses. */
export function notRegisteredFor(grantType: GrantType): OAuthError {
  return new OAuthError('unauthorized_client', { description: `this client is not registered for ${grantType}` });
}

/**
 * The token endpoint's client for a grant that authenticates it in its own D1
 * batch (services/client-authentication.ts): what the request presents,
 * parsed and its secret hashed, without reading D1. Malformed or doubled
 * credentials are refused here, as by authenticateClient; so is a client no
 * row can authenticate (an id too long to name one, a client ID metadata
 * document URL while open registration is off), at once.
 */
export async function pendingClient(c: Context<AppEnv>, body: ClientCredentials, grantType: GrantType): Promise<PendingClient> {
  const presented = presentedClient(c, body);
  if (presented.method === 'private_key_jwt') return pendingAssertionClient(c, presented, grantType);
  const { id, method, secret } = presented;
  const document = method === 'none' && isClientIdUrl(id);
  if (!presented.lookup || (document && !openRegistration(c.var.deps.env))) {
    await checkClient(c, presented, undefined);
    throw invalidClient();
  }
  const guard: ClientGuard = {
    guardClientId: id,
    guardMethod: method,
    guardSecretHash: secret === undefined ? '' : await hashSecret(secret),
    guardGrantType: grantType,
    // services/client-metadata-documents.ts resolveClient's freshness rule.
    guardFreshAfter: document ? now() : null,
  };
  const registered = (client: Client): Client => {
    if (!client.grantTypes.includes(grantType)) throw notRegisteredFor(grantType);
    // CORS (cors.ts) names the authenticated client's origin on the response.
    c.set('client', client);
    return client;
  };
  const pending: PendingClient = {
    id,
    method,
    guard,
    async check(row) {
      // Where the SQL guard held, the batch acted on this row as it was: its
      // rules are checked again as they stand, never by fetching a document
      // afresh (the row was fresh at the batch's instant).
      const client =
        row?.authenticated === 1 ? await checkCredentials(c, presented, row.client) : await checkClient(c, presented, row?.client);
      return registered(client);
    },
    async authenticate() {
      return registered(await checkClient(c, presented, await findClient(c.var.deps.db, id)));
    },
    async precheck(check) {
      try {
        return check();
      } catch (error) {
        if (error instanceof OAuthError) await pending.authenticate();
        throw error;
      }
    },
    writes: () => [],
    async batchFailed(error) {
      throw error;
    },
  };
  return pending;
}

/**
 * pendingClient for `private_key_jwt` (RFC 7523 §2.2): the keys that verify
 * the assertion are in the client's row (or behind its `jwks_uri`), so the
 * client is read (one D1 read) and its assertion verified before the grant's
 * batch; the batch then carries the INSERT that spends the assertion's `jti`
 * (`writes`), so a replay fails the whole batch and spends no code, refresh
 * token or device code (`batchFailed` answers invalid_client). A grant with
 * no batch of its own (client_credentials without DPoP) spends it in
 * `authenticate` (one D1 write). The batch's SQL guard holds for the method
 * and grant type (storage/clients.ts), so a client deleted, disabled or
 * switched to another method in between fails it.
 */
async function pendingAssertionClient(c: Context<AppEnv>, presented: PresentedClient, grantType: GrantType): Promise<PendingClient> {
  const { id } = presented;
  const stored = presented.lookup ? await findClient(c.var.deps.db, id) : undefined;
  if (stored?.tokenEndpointAuthMethod !== 'private_key_jwt') return failed(c, id);
  const client = stored;
  let row: ClientAssertionRow;
  try {
    row = await clientAssertionRow(
      client.id,
      await verifyClientAssertion(c.var.deps, client, presented.assertion ?? '', assertionAudiences(c)),
    );
  } catch (error) {
    if (error instanceof ClientAssertionError) return failed(c, id, error.message);
    throw error;
  }
  let spent = false;
  const registered = (current: Client): Client => {
    if (!current.grantTypes.includes(grantType)) throw notRegisteredFor(grantType);
    // CORS (cors.ts) names the authenticated client's origin on the response.
    c.set('client', current);
    return current;
  };
  const pending: PendingClient = {
    id,
    method: 'private_key_jwt',
    guard: { guardClientId: id, guardMethod: 'private_key_jwt', guardSecretHash: '', guardGrantType: grantType, guardFreshAfter: null },
    async check(batchRow) {
      // The batch's row, as it stood when its writes ran: still this method's (a guard that failed for the grant type says so).
      if (batchRow?.client.tokenEndpointAuthMethod !== 'private_key_jwt') return failed(c, id);
      return registered(batchRow.client);
    },
    async authenticate() {
      if (!spent) {
        spent = true;
        if (!(await spendAssertionAlone(c.var.deps, row))) return failed(c, id, assertionReplayed().message);
      }
      return registered(client);
    },
    async precheck(check) {
      // Verified already: the request's own errors come next (RFC 6749 §5.2).
      // A refused request still spends its assertion, as a batch would have.
      registered(client);
      try {
        return check();
      } catch (error) {
        if (error instanceof OAuthError) await pending.authenticate();
        throw error;
      }
    },
    writes(db) {
      return spent ? [] : [spendAssertionStatement(db, row)];
    },
    async batchFailed(error) {
      if (isReplayedAssertion(error)) return failed(c, id, assertionReplayed().message);
      throw error;
    },
  };
  return pending;
}
