import * as oauth from 'oauth4webapi';
import { z } from 'zod';
import { kvTtl, UPSTREAM_FETCH_TIMEOUT_MS, UPSTREAM_METADATA_TTL, UPSTREAM_REQUEST_TTL, UPSTREAM_RESPONSE_MAX_BYTES } from '../config';
import type { Deps } from '../deps';
import { now, randomSecret } from '../lib/crypto';
import { readAtMost } from '../lib/guarded-fetch';
import { emailSchema } from './accounts';
import type { PendingSignIn } from './upstream-pending';
import { isLoopbackUrl, type UpstreamProvider } from './upstream-providers';

// Tollgate as a relying party of an upstream provider (issue 17), with
// oauth4webapi (the Workers-native core of openid-client) doing the protocol:
// the authorization code flow with PKCE (RFC 7636, S256), `state` (RFC 6749
// §10.12) and, for OpenID providers, `nonce` (OIDC Core §3.1.2.1); the
// provider's answer checked for RFC 9207's `iss` (mix-up); the ID token
// checked for iss, aud, exp, iat and nonce (OIDC Core §3.1.3.7) and its
// signature with the provider's JWKS. A `github` provider is OAuth 2.0 only:
// its user comes from GitHub's REST API (/user, /user/emails).
//
// Every outbound call has a timeout and a size cap (a slow or huge answer
// from a provider must not hold the Worker), follows no redirect, and plain
// http is allowed only to a loopback provider (development and tests).

/** What Tollgate learns about the user from the provider. */
export interface UpstreamProfile {
  /** Stable at that provider: OIDC `sub`, GitHub's numeric user id. */
  subject: string;
  /** Lower-cased, or null when the provider gave none (or none that parses as an email). */
  email: string | null;
  /** Only when the provider says the address is verified (OIDC `email_verified: true`; GitHub: primary and verified). */
  emailVerified: boolean;
  name: string | null;
}

/** A provider's answer Tollgate refuses; `message` is safe to show (no token, no code). */
export class UpstreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

const GITHUB: oauth.AuthorizationServer = {
  issuer: 'https://github.com',
  authorization_endpoint: 'https://github.com/login/oauth/authorize',
  token_endpoint: 'https://github.com/login/oauth/access_token',
};
const GITHUB_API = 'https://api.github.com';
/** OIDC Core §5.4: the scopes for a name and an email. */
const OIDC_SCOPE = 'openid email profile';
/** GitHub OAuth scopes: read the profile and the email addresses (including private ones). */
const GITHUB_SCOPE = 'read:user user:email';

/** The callback URL registered at the provider (SPEC: `{ISSUER}/login/upstream/<id>/callback`). */
export function callbackUrl(issuer: string, provider: UpstreamProvider): string {
  return `${issuer}/login/upstream/${provider.id}/callback`;
}

/**
 * fetch() for every call to a provider: a timeout, no redirects followed
 * (oauth4webapi asks for none; a redirect is an error), and at most
 * UPSTREAM_RESPONSE_MAX_BYTES read.
 */
async function limitedFetch(url: string, init: RequestInit): Promise<Response> {
  const signal = AbortSignal.timeout(UPSTREAM_FETCH_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal });
  } catch (error) {
    throw new UpstreamError('the provider could not be reached', { cause: error });
  }
  const body = await readAtMost(response, UPSTREAM_RESPONSE_MAX_BYTES, {
    tooLarge: () => new UpstreamError('the provider answered with too much data'),
    timeout: { signal, error: () => new UpstreamError('the provider could not be reached') },
  });
  return new Response(response.status === 204 || response.status === 304 ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Options for every oauth4webapi call that makes a request to `url`'s provider. */
function requestOptions(insecure: boolean) {
  return { [oauth.customFetch]: limitedFetch, [oauth.allowInsecureRequests]: insecure } as const;
}

function insecureAllowed(provider: UpstreamProvider): boolean {
  return provider.issuer !== undefined && isLoopbackUrl(provider.issuer);
}

// Discovery documents by provider: in the isolate, and in KV (shared across isolates) for UPSTREAM_METADATA_TTL.
const metadataCache = new Map<string, { issuer: string; as: oauth.AuthorizationServer; until: number }>();
// JWKS by provider, kept by oauth4webapi itself (it refetches on an unknown kid).
const jwksCaches = new Map<string, oauth.JWKSCacheInput>();
const METADATA_KEY = 'upstream:metadata:';

/**
 * The provider's authorization server metadata: GitHub's fixed endpoints, or
 * an OpenID provider's discovery document (OIDC Discovery §4), whose `issuer`
 * oauth4webapi requires to be the configured issuer (§4.3), cached.
 */
export async function providerMetadata(deps: Deps, provider: UpstreamProvider): Promise<oauth.AuthorizationServer> {
  if (provider.type === 'github') return GITHUB;
  const issuer = provider.issuer as string;
  const cached = metadataCache.get(provider.id);
  if (cached && cached.issuer === issuer && cached.until > now()) return cached.as;
  const key = METADATA_KEY + provider.id;
  const stored = await deps.env.KV.get<{ issuer: string; as: oauth.AuthorizationServer; until: number }>(key, 'json');
  if (stored && stored.issuer === issuer && stored.until > now()) {
    metadataCache.set(provider.id, stored);
    return stored.as;
  }
  let as: oauth.AuthorizationServer;
  try {
    const url = new URL(issuer);
    const response = await oauth.discoveryRequest(url, { algorithm: 'oidc', ...requestOptions(insecureAllowed(provider)) });
    as = await oauth.processDiscoveryResponse(url, response);
  } catch (error) {
    throw asUpstreamError(error, 'the provider’s discovery document could not be read');
  }
  if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) {
    throw new UpstreamError('the provider’s discovery document lacks an endpoint Tollgate needs');
  }
  const entry = { issuer, as, until: now() + UPSTREAM_METADATA_TTL };
  metadataCache.set(provider.id, entry);
  await deps.env.KV.put(key, JSON.stringify(entry), { expirationTtl: kvTtl(UPSTREAM_METADATA_TTL) });
  return as;
}

/** An oauth4webapi failure (or ours) as an UpstreamError with a message fit to show. */
function asUpstreamError(error: unknown, fallback: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof oauth.AuthorizationResponseError) {
    // The provider's own refusal (RFC 6749 §4.1.2.1): `access_denied` when the user said no.
    const code = error.error === 'access_denied' ? 'you did not allow it' : `it answered ${error.error.slice(0, 64)}`;
    return new UpstreamError(`The provider did not sign you in: ${code}.`, { cause: error });
  }
  return new UpstreamError(fallback, { cause: error });
}

/** The client authentication a provider takes: client_secret_basic (OIDC's default) unless it lists only post. */
function clientAuth(as: oauth.AuthorizationServer, provider: UpstreamProvider): oauth.ClientAuth {
  const methods = as.token_endpoint_auth_methods_supported;
  const basic = provider.type === 'oidc' && (!methods || methods.includes('client_secret_basic'));
  return basic ? oauth.ClientSecretBasic(provider.clientSecret) : oauth.ClientSecretPost(provider.clientSecret);
}

/**
 * Starts a sign-in at `provider`: the pending state to seal in the browser's
 * cookie and the provider's authorization URL to send the browser to.
 */
export async function beginUpstreamSignIn(
  deps: Deps,
  provider: UpstreamProvider,
  returnTo: string,
): Promise<{ pending: PendingSignIn; authorizationUrl: string }> {
  const as = await providerMetadata(deps, provider);
  const pending: PendingSignIn = {
    id: randomSecret(),
    provider: provider.id,
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
    returnTo,
    createdAt: now(),
  };
  const url = new URL(as.authorization_endpoint as string);
  const params = {
    response_type: 'code',
    client_id: provider.clientId,
    redirect_uri: callbackUrl(deps.issuer, provider),
    scope: provider.type === 'oidc' ? OIDC_SCOPE : GITHUB_SCOPE,
    state: pending.state,
    // RFC 9700 §2.1.1: PKCE with S256, also where a provider would not require it.
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
    code_challenge_method: 'S256',
    ...(provider.type === 'oidc' ? { nonce: pending.nonce } : {}),
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { pending, authorizationUrl: url.href };
}

const idTokenProfile = z.object({
  sub: z.string().min(1).max(255),
  email: z.string().optional().catch(undefined),
  // OIDC Core §5.1: a boolean; a provider that sends the string "true" is read as meaning it.
  email_verified: z
    .union([z.boolean(), z.literal('true'), z.literal('false')])
    .optional()
    .catch(undefined),
  name: z.string().optional().catch(undefined),
  preferred_username: z.string().optional().catch(undefined),
});

function profileFrom(claims: z.infer<typeof idTokenProfile>): UpstreamProfile {
  const email = claims.email === undefined ? null : emailSchema.safeParse(claims.email);
  const valid = email?.success ? email.data : null;
  return {
    subject: claims.sub,
    email: valid,
    emailVerified: valid !== null && (claims.email_verified === true || claims.email_verified === 'true'),
    name: cleanName(claims.name ?? claims.preferred_username),
  };
}

function cleanName(name: string | null | undefined): string | null {
  const trimmed = name?.trim().slice(0, 100);
  return trimmed ? trimmed : null;
}

/**
 * Finishes a sign-in: checks the provider's answer at the callback against
 * the pending state, trades the code for tokens and reads who signed in.
 * Throws UpstreamError for anything refused.
 */
export async function finishUpstreamSignIn(
  deps: Deps,
  provider: UpstreamProvider,
  pending: PendingSignIn,
  callback: URL,
): Promise<UpstreamProfile> {
  if (pending.provider !== provider.id || pending.createdAt + UPSTREAM_REQUEST_TTL < now()) {
    throw new UpstreamError('This sign-in was started with another provider, or has expired.');
  }
  const as = await providerMetadata(deps, provider);
  const client: oauth.Client = { client_id: provider.clientId };
  const options = requestOptions(insecureAllowed(provider));
  let params: URLSearchParams;
  try {
    // RFC 6749 §10.12 state; RFC 9207 §2.4: `iss` must be this provider's when sent, and is required when its metadata says it sends it.
    params = oauth.validateAuthResponse(as, client, callback.searchParams, pending.state);
  } catch (error) {
    throw asUpstreamError(error, 'The answer from the provider does not belong to this sign-in.');
  }
  let response: Response;
  try {
    response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      clientAuth(as, provider),
      params,
      callbackUrl(deps.issuer, provider),
      pending.codeVerifier,
      options,
    );
  } catch (error) {
    throw asUpstreamError(error, 'The provider could not be reached.');
  }
  if (provider.type === 'github') return githubProfile(as, client, response);
  try {
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    });
    // The ID token's signature, with the provider's published keys (its jwks_uri).
    const jwks = jwksCaches.get(provider.id) ?? {};
    jwksCaches.set(provider.id, jwks);
    await oauth.validateApplicationLevelSignature(as, response, { ...options, [oauth.jwksCache]: jwks });
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (!claims) throw new UpstreamError('The provider sent no ID token.');
    let profile = idTokenProfile.parse(claims);
    // Providers that keep the ID token small (oidc-provider, Entra) give the email at userinfo only.
    if (!profile.email && as.userinfo_endpoint) {
      const info = await oauth.userInfoRequest(as, client, result.access_token, options);
      // OIDC Core §5.3.2: the userinfo `sub` must be the ID token's (processUserInfoResponse checks it).
      const more = idTokenProfile.parse(await oauth.processUserInfoResponse(as, client, profile.sub, info));
      profile = {
        ...profile,
        email: more.email,
        email_verified: more.email_verified,
        name: profile.name ?? more.name,
        preferred_username: profile.preferred_username ?? more.preferred_username,
      };
    }
    return profileFrom(profile);
  } catch (error) {
    throw asUpstreamError(error, 'The provider’s ID token was refused.');
  }
}

const githubUser = z.object({ id: z.number().int().nonnegative(), login: z.string(), name: z.string().nullable().optional() });
const githubEmails = z.array(z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }));

/** GitHub's user: /user for the id and name, /user/emails for the primary address and whether it is verified. */
async function githubProfile(as: oauth.AuthorizationServer, client: oauth.Client, response: Response): Promise<UpstreamProfile> {
  try {
    const result = await oauth.processAuthorizationCodeResponse(as, client, response);
    const headers = {
      Authorization: `Bearer ${result.access_token}`,
      Accept: 'application/vnd.github+json',
      // GitHub refuses API calls without a User-Agent.
      'User-Agent': 'Tollgate',
      'X-GitHub-Api-Version': '2022-11-28',
    };
    const [userResponse, emailsResponse] = await Promise.all([
      limitedFetch(`${GITHUB_API}/user`, { headers }),
      limitedFetch(`${GITHUB_API}/user/emails`, { headers }),
    ]);
    if (!userResponse.ok) throw new UpstreamError('GitHub did not say who signed in.');
    const user = githubUser.parse(await userResponse.json());
    const emails = emailsResponse.ok ? githubEmails.safeParse(await emailsResponse.json()) : null;
    // Only the primary address, and verified only when GitHub says so.
    const primary = emails?.success ? emails.data.find((entry) => entry.primary) : undefined;
    const email = primary ? emailSchema.safeParse(primary.email) : null;
    return {
      subject: String(user.id),
      email: email?.success ? email.data : null,
      emailVerified: Boolean(email?.success && primary?.verified),
      name: cleanName(user.name ?? user.login),
    };
  } catch (error) {
    throw asUpstreamError(error, 'GitHub’s answer was refused.');
  }
}
