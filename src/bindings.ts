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
  /** Days audit events and the admin dashboard's counters are kept (a var; default 90): services/retention.ts. */
  AUDIT_RETENTION_DAYS?: string;
  /**
   * `public` (the default, also when unset): anyone may register a public
   * client at /oauth2/register without a token, and a client_id may be the
   * https URL of a client ID metadata document; such clients belong to no one
   * and the consent page marks them unverified. `off` (or any other value):
   * registration needs a user API token, and URL client ids are unknown.
   */
  OPEN_REGISTRATION?: string;
  /**
   * Upstream identity providers users may sign in through (issue 17): a JSON
   * array of `{id, name, type: "oidc" | "github", issuer?, client_id}`. Each
   * provider's client secret is the secret `UPSTREAM_<ID>_CLIENT_SECRET`
   * (services/upstream-providers.ts). Unset: none.
   */
  UPSTREAM_PROVIDERS?: string;
  /**
   * `true` keeps every mail in D1 and lists it at /dev/mailbox instead of
   * sending it (`npm start` sets it). Refused (/dev/mailbox and every mail
   * fail closed with server_error) unless the issuer is http on a loopback host.
   */
  DEV_MAILBOX?: string;
  /** An HTTP mail API to send mail through: `resend` (Resend's JSON API). */
  MAIL_API?: string;
  /** The HTTP mail API's key (a secret: `wrangler secret put MAIL_API_KEY`). */
  MAIL_API_KEY?: string;
  /** The sender of Tollgate's mail, e.g. `Tollgate <auth@example.com>`. */
  MAIL_FROM?: string;
  /** Cloudflare Email Routing's `send_email` binding (wrangler.toml `[[send_email]]`), used when MAIL_API is unset. */
  SEND_EMAIL?: SendEmail;
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
  PASSKEY_CHALLENGE_IP_LIMITER: RateLimit;
  PASSWORD_RESET_IP_LIMITER: RateLimit;
  MAIL_ADDRESS_LIMITER: RateLimit;
  TWO_FACTOR_LIMITER: RateLimit;
  UPSTREAM_IP_LIMITER: RateLimit;
}
