/**
 * The Worker's bindings (wrangler.toml) and the secrets an operator may set.
 * Ground floor: every layer may import this type, and it imports nothing.
 */
export interface Bindings {
  DB: D1Database;
  KV: KVNamespace;
  /** The issuer identifier, e.g. `https://auth.example.com` (no trailing slash). */
  ISSUER: string;
  /** Optional private signing key (a JWK, JSON) set with `wrangler secret put SIGNING_KEY`. */
  SIGNING_KEY?: string;
  /** Optional secret that encrypts private signing keys at rest in D1 (AES-256-GCM). */
  KEY_ENCRYPTION_KEY?: string;
  /**
   * Cloudflare Turnstile, optional: the site key (a var) and the secret key (a
   * secret). With both set, a browser with no device cookie for an account
   * that is over its sign-in limit is challenged instead of refused; unset
   * (and so locally), it is refused.
   */
  TURNSTILE_SITE_KEY?: string;
  TURNSTILE_SECRET_KEY?: string;
  /**
   * `public` (the default, also when unset): anyone may register a public
   * client at /oauth2/register without a token, and a client_id may be the
   * https URL of a client ID metadata document; such clients belong to no one
   * and the consent page marks them unverified. `off` (or any other value):
   * registration needs a user API token, and URL client ids are unknown.
   */
  OPEN_REGISTRATION?: string;
  /** Static files from ./public (the demo app's script). */
  ASSETS: Fetcher;
  /** Rate Limiting bindings (wrangler.toml [[ratelimits]]). */
  SIGN_IN_LIMITER: RateLimit;
  SIGN_IN_PAIR_LIMITER: RateLimit;
  SIGN_IN_DEVICE_LIMITER: RateLimit;
  SIGN_IN_IP_LIMITER: RateLimit;
  CLIENT_AUTH_LIMITER: RateLimit;
  REGISTRATION_LIMITER: RateLimit;
  SIGNUP_IP_LIMITER: RateLimit;
  USER_CODE_IP_LIMITER: RateLimit;
  USER_CODE_ACCOUNT_LIMITER: RateLimit;
  DEVICE_AUTHORIZATION_IP_LIMITER: RateLimit;
  PUSHED_REQUEST_IP_LIMITER: RateLimit;
  OPEN_REGISTRATION_LIMITER: RateLimit;
}
