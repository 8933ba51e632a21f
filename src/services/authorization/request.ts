import type { ErrorCode } from '../../errors';

/**
 * The parameters of an authorization request, from wherever they came: the
 * query string of GET /oauth2/authorize today, a form body for a pushed
 * request (RFC 9126 §2.1) later. A parameter sent more than once is an array,
 * so that its schema can refuse it (RFC 6749 §3.1).
 */
export type RequestParameters = Record<string, string | string[]>;

/**
 * A validated authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1),
 * kept while the user signs in and decides, so that nothing the client sent
 * has to be trusted again from a form or a return URL.
 */
export interface AuthorizationRequest {
  /** Random (256 bits): the key it is kept under and the `request_id` of the return URL. */
  id: string;
  clientId: string;
  /** One of the client's registered redirect URIs (checkRedirectUri). */
  redirectUri: string;
  scope: string[];
  /**
   * RFC 8707 resources the token will be for; null or absent (a request kept
   * before resource indicators): the default, the books API.
   */
  resource?: string[] | null;
  state: string | null;
  nonce: string | null;
  /** The PKCE S256 challenge (RFC 7636 §4.2). */
  codeChallenge: string;
  /** RFC 9449 §10 `dpop_jkt`: the code is bound to this DPoP key; null or absent when the request named none. */
  dpopJkt?: string | null;
  prompt: string[];
  /** OIDC Core §3.1.2.1 max_age, seconds; null when not sent. */
  maxAge: number | null;
  /**
   * OIDC Core §3.1.2.1 acr_values this server knows, in order of preference;
   * null or absent (a request kept by an earlier release) when none.
   */
  acrValues?: string[] | null;
  /** OIDC Core §3.1.2.1 login_hint: the email to prefill on the sign-in page. */
  loginHint: string | null;
  /** When the request arrived, seconds; its lifetime (AUTH_REQUEST_TTL) and max_age count from here. */
  createdAt: number;
  /** The user the consent page was shown to; only they may answer it. */
  userId: string | null;
  /**
   * Set once the request sent the browser to sign in: the id hash of the
   * session the browser had then (null: none). A sign-in made for this
   * request is any other session, an exact test where comparing whole-second
   * `auth_time`s could not tell a sign-in from one made earlier in the same
   * second.
   */
  signInAsked: { previousSession: string | null } | null;
}

/**
 * An answer sent back to the client's redirect URI: a code (RFC 6749 §4.1.2)
 * or an error (§4.1.2.1). Only ever made once the redirect URI is trusted.
 * The adapter adds `iss` (RFC 9207 §2) and picks the status.
 */
export interface ClientRedirect {
  redirectUri: string;
  params: Record<string, string | null>;
}

/** An error for the client at `redirectUri`, with the request's `state` (RFC 6749 §4.1.2.1). */
export function errorRedirect(redirectUri: string, state: string | null, code: ErrorCode, description: string): ClientRedirect {
  return { redirectUri, params: { error: code, error_description: description, state } };
}
