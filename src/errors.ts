import type { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Error codes on the wire: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
 * RFC 7591 §3.2.2, RFC 8707 §2, RFC 8628 §3.5, OIDC Core §3.1.2.6, plus a few plain HTTP ones for the JSON API.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'server_error'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'invalid_credentials'
  | 'not_found'
  | 'conflict'
  | 'too_many_requests'
  // RFC 8628 §3.5: the device access token response's errors.
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // RFC 9449 §12.2: a DPoP proof that fails a check, or lacks the server's nonce.
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

export interface OAuthErrorOptions {
  description?: string;
  status?: ContentfulStatusCode;
  headers?: Record<string, string>;
}

/** A typed error that becomes `{error, error_description}` JSON with its status. */
export class OAuthError extends Error {
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: OAuthErrorOptions = {}) {
    super(options.description ?? code);
    this.name = 'OAuthError';
    this.code = code;
    this.status = options.status ?? 400;
    this.headers = options.headers ?? {};
  }
}

/**
 * An error a person sees: rendered as the HTML error page. Used before the
 * client and redirect URI are known to be good, where RFC 6749 §4.1.2.1 forbids
 * redirecting the error back to the client.
 */
export class PageError extends Error {
  readonly status: ContentfulStatusCode;
  readonly title: string;

  constructor(title: string, message: string, status: ContentfulStatusCode = 400) {
    super(message);
    this.name = 'PageError';
    this.title = title;
    this.status = status;
  }
}

/** The one mapper to the wire format. No error detail beyond description ever leaves. */
export function oauthErrorResponse(error: OAuthError): Response {
  const body: Record<string, string> = { error: error.code };
  if (error.message && error.message !== error.code) body.error_description = error.message;
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      // RFC 6749 §5.1: error and token responses must not be cached.
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      ...error.headers,
    },
  });
}

/** Hono's own exceptions (malformed JSON, body limit) mapped onto the same JSON shape. */
export function fromHttpException(error: HTTPException): OAuthError {
  return new OAuthError('invalid_request', {
    status: error.status as ContentfulStatusCode,
    description: error.message || 'The request is malformed',
  });
}
