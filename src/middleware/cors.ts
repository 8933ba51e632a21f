import type { Context, MiddlewareHandler } from 'hono';
import { PREFLIGHT_MAX_AGE } from '../config';
import type { AppEnv } from '../env';
import { corsOrigins, isClientOrigin } from '../storage/clients';

export interface CorsOptions {
  /**
   * `any`: public documents (metadata, JWKS), readable from every origin.
   * `clients`: only the web origins of the calling public client's redirect URIs.
   */
  origins: 'any' | 'clients';
  /**
   * For a protected resource that clients find on their own (an MCP server):
   * a browser client meets it before it has registered, so before its origin
   * is a client origin. Its preflight is answered for any origin (a preflight
   * carries no credentials, and the request it allows still needs a token),
   * and a 401 is readable from any origin with its `WWW-Authenticate`: the
   * challenge carries no data and names the resource's metadata (RFC 9728
   * §5.1), the first step of discovery. Answers to a token stay readable only
   * by its client's origins.
   */
  discoverable?: boolean;
  /** Request headers a preflight allows besides Authorization and Content-Type. */
  headers?: readonly string[];
}

/**
 * CORS for the endpoints a browser app calls directly. A preflight carries no
 * credentials, so it is answered for any registered public-client origin; the
 * real response names its origin only when it belongs to the client that was
 * authenticated (or whose access token was used). Never on pages: the
 * authorization and consent pages are navigated to, not fetched.
 */
export function cors(options: CorsOptions): MiddlewareHandler<AppEnv> {
  return async function cors(c, next) {
    const origin = c.req.header('Origin');
    if (c.req.method === 'OPTIONS' && c.req.header('Access-Control-Request-Method')) {
      c.header('Vary', 'Origin');
      const allowed =
        origin !== undefined && (options.origins === 'any' || options.discoverable || (await isClientOrigin(c.var.deps.db, origin)));
      if (allowed) {
        c.header('Access-Control-Allow-Origin', options.origins === 'any' ? '*' : origin);
        c.header('Access-Control-Allow-Methods', 'GET, POST');
        // RFC 9449 §4.1: a browser client sends its DPoP proof in the DPoP header.
        c.header('Access-Control-Allow-Headers', ['Authorization', 'Content-Type', 'DPoP', ...(options.headers ?? [])].join(', '));
        c.header('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
      }
      return c.body(null, 204);
    }
    // The bearer check asks whether it is the token's client's origin in its own batch (helpers/bearer.ts).
    if (options.origins === 'clients' && origin) c.set('corsOrigin', origin);
    await next();
    if (options.origins === 'any') {
      c.res.headers.set('Access-Control-Allow-Origin', '*');
      return;
    }
    c.res.headers.append('Vary', 'Origin');
    if (!origin) return;
    if (options.discoverable && c.res.status === 401) {
      c.res.headers.set('Access-Control-Allow-Origin', '*');
      c.res.headers.set('Access-Control-Expose-Headers', 'WWW-Authenticate, DPoP-Nonce');
      return;
    }
    if (await isOriginOfCaller(c, origin)) {
      c.res.headers.set('Access-Control-Allow-Origin', origin);
      // A 403 insufficient_scope names the scope it needs (RFC 6750 §3); a
      // DPoP client reads the server's next nonce (RFC 9449 §8.1, §9).
      c.res.headers.set('Access-Control-Expose-Headers', 'WWW-Authenticate, DPoP-Nonce');
    }
  };
}

/**
 * Whether `origin` is a web origin of the client this request was made for.
 * Where the client was authenticated (token, revocation, introspection), its
 * row is at hand and its origins are a function of it (the same one that
 * writes client_origins in the client's own batch), so D1 is not asked again:
 * a browser app's refresh stays one round trip. Where only its access token
 * is known (userinfo, /mcp), the bearer check read client_origins in its own
 * batch (originOfCaller), so a cross-origin call costs no round trip more;
 * otherwise (a request that never reached the check) client_origins is read.
 */
async function isOriginOfCaller(c: Context<AppEnv>, origin: string): Promise<boolean> {
  const client = c.get('client');
  if (client) return corsOrigins(client).includes(origin);
  const asked = c.get('originOfCaller');
  if (asked !== undefined) return asked;
  const clientId = c.get('accessToken')?.clientId;
  return clientId !== undefined && (await isClientOrigin(c.var.deps.db, origin, clientId));
}
