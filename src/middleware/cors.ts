import type { MiddlewareHandler } from 'hono';
import { PREFLIGHT_MAX_AGE } from '../config';
import type { AppEnv } from '../env';
import { isClientOrigin } from '../storage/clients';

export interface CorsOptions {
  /**
   * `any`: public documents (metadata, JWKS), readable from every origin.
   * `clients`: only the web origins of the calling public client's redirect URIs.
   */
  origins: 'any' | 'clients';
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
      const allowed = origin !== undefined && (options.origins === 'any' || (await isClientOrigin(c.var.deps.db, origin)));
      if (allowed) {
        c.header('Access-Control-Allow-Origin', options.origins === 'any' ? '*' : origin);
        c.header('Access-Control-Allow-Methods', 'GET, POST');
        c.header('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        c.header('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
      }
      return c.body(null, 204);
    }
    await next();
    if (options.origins === 'any') {
      c.res.headers.set('Access-Control-Allow-Origin', '*');
      return;
    }
    c.res.headers.append('Vary', 'Origin');
    if (!origin) return;
    const clientId = c.get('client')?.id ?? c.get('accessToken')?.clientId;
    if (clientId && (await isClientOrigin(c.var.deps.db, origin, clientId))) {
      c.res.headers.set('Access-Control-Allow-Origin', origin);
    }
  };
}
