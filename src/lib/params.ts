import { z } from 'zod';
import {
  CLIENT_ID_MAX_LENGTH,
  CLIENT_SECRET_MAX_LENGTH,
  CLIENT_VALUE_MAX_LENGTH,
  KEYWORD_MAX_LENGTH,
  OPAQUE_TOKEN_MAX_LENGTH,
  REDIRECT_URI_MAX_LENGTH,
  SCOPE_MAX_LENGTH,
  TOKEN_MAX_LENGTH,
} from '../config';

// The request parameters more than one endpoint reads, each with one schema
// and one length limit (config.ts). A plain string schema also refuses a
// parameter sent twice, which Hono hands over as an array: RFC 6749 §3.1 and
// §3.2 say a parameter "MUST NOT be included more than once".

/** A string of at most `max` characters, saying so when it is longer. */
export function boundedString(max: number) {
  return z.string().max(max, `is longer than ${max} characters`);
}

/**
 * A parameter that must be present and not empty, at most `max` characters; a
 * missing or empty one says `<name> is required`.
 */
export function requiredString(name: string, max: number) {
  const required = `${name} is required`;
  return z
    .string({ error: (issue) => (issue.input === undefined ? required : undefined) })
    .min(1, required)
    .max(max, `is longer than ${max} characters`);
}

/** `client_id` (RFC 6749 §2.2). */
export const clientIdParam = boundedString(CLIENT_ID_MAX_LENGTH);
/** `client_secret` in a form (RFC 6749 §2.3.1). */
export const clientSecretParam = boundedString(CLIENT_SECRET_MAX_LENGTH);
/** A redirect URI, as sent to the authorization and token endpoints or registered (RFC 6749 §3.1.2). */
export const redirectUriParam = boundedString(REDIRECT_URI_MAX_LENGTH);
/** `scope`: space-separated tokens (RFC 6749 §3.3); which tokens are allowed is checked by services/scopes.ts. */
export const scopeParam = boundedString(SCOPE_MAX_LENGTH);
/** `state`, `nonce`: opaque values a client picks and gets back unchanged. */
export const clientValueParam = boundedString(CLIENT_VALUE_MAX_LENGTH);
/** A token presented to revocation, introspection or logout (JWTs are long). */
export const tokenParam = boundedString(TOKEN_MAX_LENGTH);
/** A code or refresh token Tollgate issued (43 characters; longer cannot be one). */
export const opaqueTokenParam = boundedString(OPAQUE_TOKEN_MAX_LENGTH);
/** A keyword from a registry: `grant_type` (RFC 6749 §4), `token_type_hint` (RFC 7009 §2.1), an `error` code. */
export const keywordParam = boundedString(KEYWORD_MAX_LENGTH);
/** An issuer identifier (RFC 9207 `iss`): a URL, bounded like a redirect URI. */
export const issuerParam = boundedString(REDIRECT_URI_MAX_LENGTH);
