import type { Context } from 'hono';
import { CLIENT_ID_MAX_LENGTH, type GrantType } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientNetwork } from '../helpers/client-ip';
import { hashSecret, now, timingSafeEqual } from '../lib/crypto';
import { clientIdParam, clientSecretParam } from '../lib/params';
import { isClientIdUrl } from '../lib/public-urls';
import type { PendingClient } from '../services/client-authentication';
import { ClientMetadataError, resolveClient } from '../services/client-metadata-documents';
import { openRegistration } from '../services/clients';
import { countAttempt, fromNetwork } from '../services/rate-limits';
import { type ClientGuard, findClient } from '../storage/clients';
import type { Client } from '../storage/schema';

/** The body fields a client may authenticate with (RFC 6749 §2.3.1), for every endpoint's schema. */
export const clientCredentialFields = {
  client_id: clientIdParam.optional(),
  client_secret: clientSecretParam.optional(),
};

export interface ClientCredentials {
  client_id?: string | undefined;
  client_secret?: string | undefined;
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
  /** Whether `id` can name a client at all (a Basic header's id is not length-checked by a schema); if not, no lookup is made. */
  lookup: boolean;
}

/**
 * Authenticates the client at the token, revocation and introspection
 * endpoints: `client_secret_basic`, `client_secret_post`, or `none` for a
 * public client, each only for a client registered with that method. RFC 6749
 * §2.3: a client uses exactly one method per request. Sets `c.var.client`.
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
  };
  return pending;
}
