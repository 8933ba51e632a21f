import { PUSHED_REQUEST_TTL, PUSHED_REQUEST_URI_PREFIX } from '../config';
import type { Deps } from '../deps';
import { OAuthError, PageError } from '../errors';
import { hashSecret, now, randomSecret } from '../lib/crypto';
import { type NetworkKey, networkKey } from '../lib/network';
import { deleteExpiredOfClientStatement, insertPushedRequestStatement } from '../storage/pushed-requests';
import type { Client } from '../storage/schema';
import { AUTHORIZATION_CHECKS, AUTHORIZATION_PARAMETERS, checkRedirectUri, readTarget, runChecks } from './authorization/checks';
import type { RequestParameters } from './authorization/request';
import { countAttempt } from './rate-limits';

// Pushed authorization requests (RFC 9126): a client sends its authorization
// request straight to the server, authenticated, and gets a short-lived,
// single-use `request_uri` to send the browser with instead. The request is
// checked here by the authorization endpoint's own steps
// (authorization/checks.ts), kept in D1, and used once by readRequest
// (services/authorization.ts), which runs the same pipeline over it again.

/** RFC 9126 §2.2: the PAR endpoint's answer. */
export interface PushedRequestResponse {
  request_uri: string;
  expires_in: number;
}

/** A request_uri this server issues: the URN prefix and 256 random bits, base64url. */
const REQUEST_URI = new RegExp(`^${PUSHED_REQUEST_URI_PREFIX}([A-Za-z0-9_-]{43})$`);

/**
 * The key of a request_uri's row: the SHA-256 of its random part, so a
 * database reader cannot use a pending request_uri. Null when the value is
 * not one this server issues.
 */
export async function requestUriHash(requestUri: string): Promise<string | null> {
  const random = REQUEST_URI.exec(requestUri)?.[1];
  return random === undefined ? null : hashSecret(random);
}

/** Runs a step-1 check (which answers a person with an error page) where a client must get invalid_request JSON. */
function asClientError<T>(step: () => T, description?: string): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof PageError) throw new OAuthError('invalid_request', { description: description ?? error.message });
    throw error;
  }
}

/**
 * RFC 9126 §2: a pushed authorization request from `client`, already
 * authenticated as at the token endpoint. It is validated as the
 * authorization endpoint validates a request (§2.1), with the same steps:
 * the redirect URI must be registered (Tollgate does not take §2.4's
 * unregistered ones), then every step-2 check; any failure is an OAuthError,
 * answered as JSON (§2.3), and nothing is stored. `request_uri` inside a
 * pushed request is refused (§2.1). Only the authorization parameters are
 * kept, never the client's credentials; the client_id is the authenticated
 * client's.
 *
 * One D1 batch: the insert, and the delete of this client's expired rows,
 * which rides on the same round trip.
 */
export async function pushAuthorizationRequest(
  deps: Deps,
  client: Client,
  params: RequestParameters,
  network: NetworkKey | null,
  proofJkt?: string,
): Promise<PushedRequestResponse> {
  // Each push is a D1 row for a minute, and a public client's id is no
  // secret: pushes are counted per client network, like device requests.
  await countAttempt(deps, 'pushedRequestNetwork', network ?? networkKey('unknown network'));
  if ('request_uri' in params) {
    throw new OAuthError('invalid_request', {
      description: 'request_uri must not be sent in a pushed authorization request (RFC 9126 §2.1)',
    });
  }
  const kept: RequestParameters = {};
  for (const name of AUTHORIZATION_PARAMETERS) {
    const value = params[name];
    if (value !== undefined) kept[name] = value;
  }
  kept.client_id = client.id;
  // RFC 9449 §10.1: a DPoP proof sent with the push binds the code as
  // `dpop_jkt` does; sent with `dpop_jkt` too, both must name the same key.
  // Kept as `dpop_jkt`, so the authorization endpoint reads it as if the
  // client had sent it. The proof's jti is not recorded: a proof here
  // authorizes nothing by itself; it names the key the token endpoint will
  // ask a fresh, single-use proof of (§11.1 replay protection is there).
  if (proofJkt !== undefined) {
    if (kept.dpop_jkt !== undefined && kept.dpop_jkt !== proofJkt) {
      throw new OAuthError('invalid_dpop_proof', {
        description: 'dpop_jkt is not the thumbprint of the DPoP proof’s key (RFC 9449 §10.1)',
      });
    }
    kept.dpop_jkt = proofJkt;
  }
  const { redirectUri } = asClientError(() => readTarget(kept));
  asClientError(() => checkRedirectUri(client, redirectUri), 'redirect_uri is not one of the redirect URIs registered for this client');
  runChecks(AUTHORIZATION_CHECKS, kept, client, deps.issuer, true);

  const random = randomSecret();
  const time = now();
  await deps.db.batch([
    deleteExpiredOfClientStatement(deps.db, client.id, time),
    insertPushedRequestStatement(deps.db, {
      hash: await hashSecret(random),
      clientId: client.id,
      parameters: kept,
      expiresAt: time + PUSHED_REQUEST_TTL,
      usedAt: null,
      createdAt: time,
    }),
  ]);
  return { request_uri: PUSHED_REQUEST_URI_PREFIX + random, expires_in: PUSHED_REQUEST_TTL };
}
