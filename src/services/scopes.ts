import { type Scope, SUPPORTED_SCOPES } from '../config';
import { OAuthError } from '../errors';

const SUPPORTED = new Set<string>(SUPPORTED_SCOPES);
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Splits a space-delimited scope string into unique tokens, in order. */
export function splitScope(scope: string | null | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))];
}

/**
 * The user's claims a client may see, by granted scope (OIDC Core §5.4):
 * `profile` gives `name`; `email` gives `email` and `email_verified`, true
 * once the user followed a verification link mailed to that address
 * (users.email_verified_at, services/email-verification.ts).
 */
export function userClaims(
  user: { name: string; email: string; emailVerifiedAt: number | null },
  scope: readonly string[],
): Record<string, string | boolean> {
  return {
    ...(scope.includes('profile') ? { name: user.name } : {}),
    ...(scope.includes('email') ? { email: user.email, email_verified: user.emailVerifiedAt !== null } : {}),
  };
}

export function isSupportedScope(token: string): token is Scope {
  return SUPPORTED.has(token);
}

/** Scopes that speak for a user (OIDC Core §5.4, §11), which a client acting for itself cannot have. */
const USER_SCOPES = new Set<string>(['openid', 'profile', 'email', 'offline_access']);

/** Whether a scope speaks for a user: never granted to client_credentials (RFC 6749 §4.4). */
export function isUserScope(token: string): boolean {
  return USER_SCOPES.has(token);
}

/**
 * The scopes a client may be given for a request: every token known, and
 * within the client's registered scope when it registered one. Otherwise
 * `invalid_scope` (RFC 6749 §4.1.2.1, §5.2). A missing scope falls back to the
 * client's registered scope (RFC 6749 §3.3 lets the server pick a default).
 */
export function allowedScopes(requested: string | undefined, clientScope: string | null): string[] {
  const tokens = splitScope(requested ?? clientScope);
  if (tokens.length === 0) {
    throw new OAuthError('invalid_scope', { description: 'scope is required: this client has no default scope' });
  }
  const allowed = clientScope === null ? null : new Set(splitScope(clientScope));
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token) || !isSupportedScope(token)) {
      throw new OAuthError('invalid_scope', { description: `unknown scope: ${token.slice(0, 64)}` });
    }
    if (allowed && !allowed.has(token)) {
      throw new OAuthError('invalid_scope', { description: `this client may not request scope ${token}` });
    }
  }
  return tokens;
}
