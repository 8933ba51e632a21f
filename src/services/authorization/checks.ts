import { z } from 'zod';
import {
  ACR_VALUES_MAX_LENGTH,
  ACR_VALUES_SUPPORTED,
  CODE_CHALLENGE_MAX_LENGTH,
  DPOP_JKT_MAX_LENGTH,
  EMAIL_MAX_LENGTH,
  MAX_AGE_MAX_LENGTH,
  PROMPT_MAX_LENGTH,
} from '../../config';
import { OAuthError, PageError } from '../../errors';
import { JKT_PATTERN } from '../../lib/dpop';
import { describeIssues } from '../../lib/issues';
import { boundedString, clientIdParam, clientValueParam, keywordParam, redirectUriParam, scopeParam } from '../../lib/params';
import { S256_CHALLENGE_PATTERN } from '../../lib/pkce';
import type { Client } from '../../storage/schema';
import { matchRedirectUri } from '../redirect-uris';
import { checkResources, resourceParam } from '../resources';
import { allowedScopes, splitScope } from '../scopes';
import type { AuthorizationRequest, RequestParameters } from './request';

// An authorization request is checked by small named steps run in order, the
// way node-oidc-provider runs its check_* steps (lib/actions/authorization/):
// an entry point picks the steps it needs instead of copying them. Step 1
// (the client and its redirect URI) answers with an error page, since nothing
// may be redirected before the redirect URI is trusted (RFC 6749 §4.1.2.1);
// step 2 (everything else) throws OAuthError, which the authorization endpoint
// sends back to the client. Only checkRedirectUri needs a redirect URI: a
// device authorization request (RFC 8628 §3.1) has none and skips it.

/** Why a parameter may not be sent twice, cited when one is. */
const REPEATED_RULE = 'RFC 6749 §3.1';
/** The prompt values Tollgate acts on (OIDC Core §3.1.2.1). */
const PROMPTS = new Set(['none', 'login', 'consent']);

/** Step 1, before any lookup: the client and where to send it back. */
const targetParameters = z.object({ client_id: clientIdParam, redirect_uri: redirectUriParam });

/** Step 2: every other parameter an authorization request may carry, each optional here and required by its step. */
const requestParameters = z.object({
  // response_type and code_challenge_method are registry keywords (RFC 6749 §8.4, RFC 7636 §6.2).
  response_type: keywordParam.optional(),
  scope: scopeParam.optional(),
  state: clientValueParam.optional(),
  nonce: clientValueParam.optional(),
  code_challenge: boundedString(CODE_CHALLENGE_MAX_LENGTH).optional(),
  code_challenge_method: keywordParam.optional(),
  prompt: boundedString(PROMPT_MAX_LENGTH).optional(),
  max_age: boundedString(MAX_AGE_MAX_LENGTH).optional(),
  // OIDC Core §3.1.2.1: the acr values asked for, space-separated, in order of preference.
  acr_values: boundedString(ACR_VALUES_MAX_LENGTH).optional(),
  login_hint: boundedString(EMAIL_MAX_LENGTH).optional(),
  // RFC 8707 §2: the one parameter that may repeat (one value per resource).
  resource: resourceParam.optional(),
  // RFC 9449 §10: the thumbprint of the DPoP key the code will be bound to.
  dpop_jkt: boundedString(DPOP_JKT_MAX_LENGTH).optional(),
});

/**
 * Every parameter an authorization request is read with (steps 1 and 2): what
 * a pushed request keeps (RFC 9126 §2.1), never the client's credentials.
 */
export const AUTHORIZATION_PARAMETERS: readonly string[] = [
  ...Object.keys(targetParameters.shape),
  ...Object.keys(requestParameters.shape),
];

/** The step-2 parameters as checkParameters accepted them. */
export type RequestValues = z.infer<typeof requestParameters>;

/**
 * Step 1, before the client is looked up: `client_id` and `redirect_uri` are
 * each sent once and not too long. Throws PageError.
 */
export function readTarget(params: RequestParameters): { clientId: string; redirectUri: string } {
  const target = targetParameters.safeParse(params);
  if (!target.success) {
    throw new PageError(
      'Invalid request',
      `The app sent an invalid request: ${describeIssues(target.error.issues, { input: params, repeatedRule: REPEATED_RULE })}.`,
    );
  }
  return { clientId: target.data.client_id, redirectUri: target.data.redirect_uri };
}

/** Step 1: the client exists. Throws PageError (an unknown client has no redirect URI to trust). */
export function checkClientFound(client: Client | undefined): asserts client is Client {
  if (!client) throw new PageError('Unknown app', 'The app that sent you here is not registered with this server.');
}

/**
 * Step 1: the redirect URI is one the client registered, matched exactly
 * (RFC 9700 §4.1.3; loopback ports aside, RFC 8252 §7.3). Throws PageError:
 * an unregistered URI is never redirected to.
 */
export function checkRedirectUri(client: Client, redirectUri: string): void {
  if (!matchRedirectUri(client.redirectUris, redirectUri)) {
    throw new PageError('Invalid redirect', 'The app asked to send you to an address it has not registered. You have not been redirected.');
  }
}

/** What the step-2 checks read and fill in: each step vouches for its part of the request. */
export interface Checking {
  readonly params: RequestParameters;
  readonly client: Client;
  /** The issuer: the resources a request may name are under it (checkResource). */
  readonly issuer?: string;
  /** Whether the request came through the PAR endpoint (RFC 9126): pushed there, or used by its request_uri. */
  readonly pushed: boolean;
  /** Set by checkParameters, which runs first. */
  values: RequestValues;
  /** The request as the steps have built it so far. */
  request: Partial<AuthorizationRequest>;
}

/** One step-2 check: fills in its part of `checking.request`, or throws OAuthError. */
export type Check = (checking: Checking) => void;

/** Every parameter is sent at most once (RFC 6749 §3.1) and within its length. */
export function checkParameters(checking: Checking): void {
  const parsed = requestParameters.safeParse(checking.params);
  if (!parsed.success)
    throw new OAuthError('invalid_request', {
      description: describeIssues(parsed.error.issues, { input: checking.params, repeatedRule: REPEATED_RULE }),
    });
  checking.values = parsed.data;
}

/**
 * RFC 9126 §6 (and §4): a client registered with
 * `require_pushed_authorization_requests` sends its requests only through
 * the PAR endpoint; any other is refused with invalid_request.
 */
export function checkPushedIfRequired({ client, pushed }: Checking): void {
  if (client.requirePushedAuthorizationRequests && !pushed) {
    throw new OAuthError('invalid_request', {
      description:
        'this client must push its authorization requests to the PAR endpoint first (require_pushed_authorization_requests, RFC 9126 §6)',
    });
  }
}

/** OAuth 2.1 §4.1.1: only the code flow; no implicit or hybrid responses. */
export function checkResponseType({ values }: Checking): void {
  if (values.response_type !== 'code') {
    throw new OAuthError('unsupported_response_type', { description: 'response_type must be code' });
  }
}

/** RFC 6749 §4.1.2.1 unauthorized_client: the client registered for the authorization code grant (RFC 7591 §2). */
export function checkCodeGrant({ client }: Checking): void {
  if (!client.grantTypes.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', { description: 'this client is not registered for the authorization code grant' });
  }
}

/** RFC 9700 §2.1.1: PKCE for every client, and S256 only (plain reveals the verifier). */
export function checkPkce({ values, request }: Checking): void {
  const challenge = values.code_challenge;
  if (!challenge) throw new OAuthError('invalid_request', { description: 'code_challenge is required (PKCE, RFC 7636)' });
  if (values.code_challenge_method !== 'S256') {
    throw new OAuthError('invalid_request', { description: 'code_challenge_method must be S256' });
  }
  if (!S256_CHALLENGE_PATTERN.test(challenge)) {
    throw new OAuthError('invalid_request', { description: 'code_challenge must be 43 base64url characters (RFC 7636 §4.2)' });
  }
  request.codeChallenge = challenge;
}

/** OIDC Core §3.1.2.1 prompt: known values only, and none stands alone. */
export function checkPrompt({ values, request }: Checking): void {
  const prompt = splitScope(values.prompt);
  if (prompt.some((value) => !PROMPTS.has(value))) {
    throw new OAuthError('invalid_request', { description: 'prompt may be none, login or consent' });
  }
  if (prompt.includes('none') && prompt.length > 1) {
    throw new OAuthError('invalid_request', { description: 'prompt=none cannot be combined' });
  }
  request.prompt = prompt;
}

/** OIDC Core §3.1.2.1 max_age: a whole number of seconds. */
export function checkMaxAge({ values, request }: Checking): void {
  if (values.max_age === undefined) {
    request.maxAge = null;
    return;
  }
  if (!/^\d{1,9}$/.test(values.max_age)) {
    throw new OAuthError('invalid_request', { description: 'max_age must be a whole number of seconds' });
  }
  request.maxAge = Number(values.max_age);
}

/**
 * OIDC Core §3.1.2.1 acr_values: the classes this server knows
 * (ACR_VALUES_SUPPORTED) among those asked for, in the client's order; any
 * other value is ignored, as a voluntary claim allows (§5.5.1.1). Left unset
 * when none is known. What it asks of the sign-in: services/authorization.ts needsSignIn.
 */
export function checkAcrValues({ values, request }: Checking): void {
  const supported: readonly string[] = ACR_VALUES_SUPPORTED;
  const known = splitScope(values.acr_values).filter((value) => supported.includes(value));
  if (known.length > 0) request.acrValues = known;
}

/** RFC 6749 §3.3: known scopes within the client's registered ones, its registered scope when none is sent. */
export function checkScope({ values, client, request }: Checking): void {
  request.scope = allowedScopes(values.scope, client.scope);
}

/**
 * RFC 8707 §2: the resources the token will be for, each an absolute URI
 * without a fragment that this issuer protects, else invalid_target; none
 * sent keeps the default (the books API).
 */
export function checkResource({ values, request, issuer }: Checking): void {
  // None sent: the request is completed with null, the default.
  if (values.resource === undefined) return;
  // A step list run without the issuer is a programming error, not a bad request.
  if (issuer === undefined) throw new Error('checkResource needs the issuer');
  request.resource = checkResources(issuer, values.resource);
}

/**
 * RFC 9449 §10: `dpop_jkt`, the JWK SHA-256 thumbprint (RFC 7638) of the key
 * the client will prove at the token endpoint: the code is redeemed only with
 * a proof by that key, so a code stolen on its way back is useless elsewhere.
 */
export function checkDpopJkt({ values, request }: Checking): void {
  if (values.dpop_jkt === undefined) return;
  if (!JKT_PATTERN.test(values.dpop_jkt)) {
    throw new OAuthError('invalid_request', {
      description: 'dpop_jkt must be a JWK SHA-256 thumbprint: 43 base64url characters (RFC 9449 §10)',
    });
  }
  request.dpopJkt = values.dpop_jkt;
}

/** The values a client picks and gets back or sees used: state, nonce, login_hint (checkParameters bounded them). */
export function copyClientValues({ values, request }: Checking): void {
  request.state = values.state ?? null;
  request.nonce = values.nonce ?? null;
  request.loginHint = values.login_hint ?? null;
}

/**
 * Step 2 at the authorization endpoint, in the order their errors take
 * precedence. A pushed request (RFC 9126 §2.1) runs the same list after client
 * authentication; a device request (RFC 8628 §3.1) would pick checkParameters
 * and checkScope.
 */
export const AUTHORIZATION_CHECKS: readonly Check[] = [
  checkParameters,
  checkPushedIfRequired,
  checkResponseType,
  checkCodeGrant,
  checkPkce,
  checkPrompt,
  checkMaxAge,
  checkAcrValues,
  checkScope,
  checkResource,
  checkDpopJkt,
  copyClientValues,
];

/**
 * Step 2 at the device authorization endpoint (RFC 8628 §3.1): a device
 * request has no redirect URI, response type or PKCE, so it skips step 1 and
 * picks the parameter, scope and resource (RFC 8707) steps the authorization
 * endpoint runs.
 */
export const DEVICE_AUTHORIZATION_CHECKS: readonly Check[] = [checkParameters, checkScope, checkResource];

/**
 * Runs `checks` in order over a client's parameters: what they built, or the
 * first step's OAuthError. `pushed`: the request came through the PAR endpoint.
 */
export function runChecks(checks: readonly Check[], params: RequestParameters, client: Client, issuer?: string, pushed = false): Checking {
  const checking: Checking = { params, client, ...(issuer !== undefined ? { issuer } : {}), pushed, values: {}, request: {} };
  for (const check of checks) check(checking);
  return checking;
}
