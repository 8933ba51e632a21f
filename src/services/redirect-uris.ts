import { REDIRECT_URI_MAX_LENGTH } from '../config';

/**
 * Redirect URI rules.
 * Registration (RFC 7591 §2, RFC 8252 §7, RFC 9700 §4.1): an absolute URI with
 * no fragment (RFC 6749 §3.1.2) and no userinfo, that is one of
 *  - https, any host;
 *  - http on a loopback host (`localhost`, `127.0.0.1`, `[::1]`), RFC 8252 §7.3;
 *  - a private-use scheme in reverse-domain form (`com.example.app:/cb`), RFC 8252 §7.1.
 * The same rules hold for every client: registered by a user, registered
 * anonymously (open registration) or read from a client ID metadata document.
 * Matching at the authorization endpoint is exact string comparison (RFC 9700
 * §4.1.3), with the one exception RFC 8252 §7.3 requires: for loopback IP
 * literals the port may differ, since native apps listen on an ephemeral port.
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const LOOPBACK_IPS = new Set(['127.0.0.1', '[::1]']);
/** RFC 8252 §7.1: a private-use scheme contains a period (reverse domain name). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*\.[a-z0-9+\-.]*[a-z0-9]:$/;

/**
 * Schemes that run or embed content in the browser, or read the user's files
 * (RFC 9700 §4.1, OWASP): never a redirect target. The private-use rule would
 * refuse them too (they have no period); naming them gives the clearer reason.
 */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'filesystem:']);

/** Returns why a redirect URI cannot be registered, or null when it can. */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > REDIRECT_URI_MAX_LENGTH) return `is longer than ${REDIRECT_URI_MAX_LENGTH} characters`;
  if (uri.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  if (/[\s\\]/.test(uri)) return 'must not contain whitespace or backslashes';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `must not use the ${url.protocol} scheme`;
  if (url.username || url.password) return 'must not contain userinfo';
  if (url.protocol === 'https:') return url.hostname ? null : 'must name a host';
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname) ? null : 'must use https unless the host is localhost or 127.0.0.1 (RFC 8252 §7.3)';
  }
  if (PRIVATE_USE_SCHEME.test(url.protocol)) return null;
  return 'must be https, http on a loopback host, or a reverse-domain private-use scheme (RFC 8252 §7.1)';
}

/** True when `requested` is one of the client's registered redirect URIs. */
export function matchRedirectUri(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  return registered.some((candidate) => sameButLoopbackPort(candidate, requested));
}

function sameButLoopbackPort(registered: string, requested: string): boolean {
  if (!requested.startsWith('http://')) return false;
  let a: URL;
  let b: URL;
  try {
    a = new URL(registered);
    b = new URL(requested);
  } catch {
    return false;
  }
  if (a.protocol !== 'http:' || !LOOPBACK_IPS.has(a.hostname)) return false;
  // Compare everything but the port, as the client wrote it: set both ports alike
  // and require the requested string to be exactly what URL serialises.
  const withPort = new URL(registered);
  withPort.port = b.port;
  return withPort.href === requested && a.hostname === b.hostname;
}
