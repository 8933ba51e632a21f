/**
 * Every default Tollgate runs with, in one place, each with its unit.
 * Change them here; nothing else in the code hard-codes a lifetime or a size.
 */

/** Access token lifetime (RFC 9068 JWT). 10 minutes, seconds. */
export const ACCESS_TOKEN_TTL = 10 * 60;
/** ID token lifetime (OIDC Core §2). 10 minutes, seconds. */
export const ID_TOKEN_TTL = 10 * 60;
/** User API token from `/api/login` (management API only). 15 minutes, seconds. */
export const USER_TOKEN_TTL = 15 * 60;
/**
 * Authorization code lifetime. RFC 6749 §4.1.2 recommends at most 10 minutes;
 * codes are redeemed within seconds, so 2 minutes, seconds.
 */
export const CODE_TTL = 2 * 60;
/**
 * The most a read replica may lag behind the primary and still answer a
 * grant, token, client or session check (D1 read replication): a replica
 * whose replica clock (storage/replica-clock.ts) is older is not used, the
 * check is made at the primary, and that read sets the clock. A revocation is
 * therefore honoured everywhere at most this long after it was answered
 * (SECURITY.md, "Read replicas"). 30 seconds, seconds.
 */
export const REPLICA_MAX_STALENESS = 30;
/**
 * A read made at the primary because a replica was too stale sets the clock
 * only when it is older than this, so that a burst of such reads writes it
 * once. 15 seconds, seconds.
 */
export const REPLICA_CLOCK_REFRESH = REPLICA_MAX_STALENESS / 2;
/** Refresh token idle lifetime: each rotation extends it this far. 30 days, seconds. */
export const REFRESH_TOKEN_IDLE_TTL = 30 * 24 * 60 * 60;
/** Refresh token absolute lifetime, from the first token of the family. 90 days, seconds. */
export const REFRESH_TOKEN_ABSOLUTE_TTL = 90 * 24 * 60 * 60;
/** A pending authorization request (authorize → login → consent). 10 minutes, seconds. */
export const AUTH_REQUEST_TTL = 10 * 60;
/** Browser session at the authorization server. 12 hours, seconds. */
export const SESSION_TTL = 12 * 60 * 60;

/** Workers KV refuses an `expirationTtl` below 60 seconds. Seconds. */
export const KV_MIN_TTL = 60;

/**
 * PBKDF2-SHA256 iterations. 100,000 is the most Workers allows in production
 * (higher counts throw there, though local workerd accepts them), so this must
 * not be raised; stored hashes carry their own count, so it can change later.
 */
export const PBKDF2_ITERATIONS = 100_000;
/** The most PBKDF2 iterations the production Workers runtime accepts. */
export const PBKDF2_MAX_ITERATIONS = 100_000;
/** Salt per password. 16 bytes. */
export const PBKDF2_SALT_BYTES = 16;
/** Bytes of entropy in codes, client secrets, session ids and refresh tokens: 256 bits. */
export const SECRET_BYTES = 32;

/** Largest request body any endpoint reads. 64 KiB, bytes. */
export const MAX_BODY_BYTES = 64 * 1024;
/** JWS algorithm for every token Tollgate signs (ECDSA P-256, RFC 7518 §3.4). */
export const SIGNING_ALG = 'ES256';
/** How long an isolate keeps signing keys in memory before re-reading D1. 5 minutes, seconds. */
export const KEY_CACHE_TTL = 5 * 60;
/** How many verified access tokens an isolate remembers (tokens.ts); about 1 KB each. */
export const VERIFIED_TOKEN_CACHE_SIZE = 1000;
/**
 * How long a retired signing key stays in the JWKS: longer than any token it
 * signed lives (10 min), plus JWKS and key caches (5 + 5 min). 1 hour, seconds.
 */
export const RETIRED_KEY_GRACE = 60 * 60;
/** `Cache-Control: max-age` on the JWKS, short so a key rotation is seen soon. 5 minutes, seconds. */
export const JWKS_MAX_AGE = 5 * 60;
/**
 * How long a PoP keeps a copy of the JWKS (Workers Cache API,
 * routes/well-known.ts), so a cold isolate answers it without a D1 read.
 * 5 minutes, seconds.
 *
 * Why no copy can lack a key that signs: a relying party's copy of the JWKS
 * reflects D1 as it was at most KEY_CACHE_TTL (the isolate's keys) +
 * JWKS_EDGE_MAX_AGE (the PoP's copy, its age checked on every read) +
 * JWKS_MAX_AGE (the relying party's own cache) = 15 minutes ago. A rotation
 * promotes the `next` key, which has been in the JWKS since the rotation
 * before (a month: wrangler.toml's cron), so a copy 15 minutes old already
 * has it: nothing is purged, and none need be (a copy cannot be purged from
 * every PoP at once anyway). Only two rotations less than 15 minutes apart
 * (`npm run keys:rotate` twice in a row) promote a key that old copies lack.
 * The other way, a stale copy holds more keys, not fewer: the retired key
 * signs for at most KEY_CACHE_TTL after the rotation (isolates that have not
 * reloaded), its tokens live ACCESS_TOKEN_TTL more, 15 minutes in all, well
 * inside RETIRED_KEY_GRACE.
 */
export const JWKS_EDGE_MAX_AGE = 5 * 60;
/**
 * Shortest time between two forced reloads of the key set when a token names
 * a `kid` the isolate does not know: a flood of made-up kids must not become a
 * flood of D1 reads. 10 seconds, seconds.
 */
export const KEY_RELOAD_MIN_INTERVAL = 10;
/**
 * `Cache-Control: max-age` on the metadata documents (RFC 8414, OIDC
 * Discovery) and protected resource metadata (RFC 9728). 5 minutes, seconds.
 * They depend on settings (OPEN_REGISTRATION) and on the code deployed, so a
 * deploy that changes them is seen by every client within this time: they are
 * not kept at the PoP (building one costs no storage call), and their ETag
 * changes with their body, so a client revalidating gets the new one at once.
 */
export const METADATA_MAX_AGE = 5 * 60;
/** `Access-Control-Max-Age`: how long a browser may reuse a CORS preflight answer. 10 minutes, seconds. */
export const PREFLIGHT_MAX_AGE = 10 * 60;
/** `Cache-Control: max-age` on the stylesheet. 1 hour, seconds. */
export const STYLESHEET_MAX_AGE = 60 * 60;

/**
 * How long a rate limit holds once reached: the binding's window, and the
 * lifetime of the KV flag that stops password checks for an account or IP
 * over its limit. 1 minute, seconds (also KV's minimum TTL).
 */
export const RATE_LIMIT_WINDOW = 60;
/**
 * How long a code, refresh token, session or user API token row is kept
 * after it expired; then the Cron Trigger deletes it (services/retention.ts).
 * Until then a replayed code or a spent refresh token presented again is
 * still recognised as a replay (RFC 6749 §4.1.2, RFC 9700 §4.14.2: its grant
 * is revoked) rather than taken as unknown. 1 day, seconds.
 */
export const EXPIRED_ROW_RETENTION = 24 * 60 * 60;
/**
 * How long a client nobody owns (registered anonymously, or from a client ID
 * metadata document) is kept with no grant used: the Cron Trigger removes one
 * created before this long ago whose grants were neither made nor used since.
 * A client ID metadata document client is simply fetched again when it comes
 * back. 30 days, seconds.
 */
export const ANONYMOUS_CLIENT_IDLE_TTL = 30 * 24 * 60 * 60;

/**
 * Longest accepted request parameters, characters (src/lib/params.ts). Each
 * is far above any legitimate value and bounds what is hashed, stored or
 * echoed back. A client id Tollgate issues is 22 characters.
 */
export const CLIENT_ID_MAX_LENGTH = 256;
/** Client secrets Tollgate issues are 43 characters. */
export const CLIENT_SECRET_MAX_LENGTH = 512;
export const REDIRECT_URI_MAX_LENGTH = 2000;
/** A space-separated scope string (RFC 6749 §3.3). */
export const SCOPE_MAX_LENGTH = 1000;
/** `state`, `nonce` and other values a client picks and gets back. */
export const CLIENT_VALUE_MAX_LENGTH = 1000;
/** Access, ID and refresh tokens presented to an endpoint. */
export const TOKEN_MAX_LENGTH = 4096;
/** Codes and refresh tokens Tollgate issues are 43 characters. */
export const OPAQUE_TOKEN_MAX_LENGTH = 256;
/** An email address (RFC 5321 §4.5.3.1: a path is at most 256 octets with its brackets). */
export const EMAIL_MAX_LENGTH = 254;
/** A user's display name. */
export const USER_NAME_MAX_LENGTH = 100;
/** A grant id in a form or path: a UUID is 36 characters, a client's own grant `cc:` plus its client id. */
export const GRANT_ID_MAX_LENGTH = 3 + CLIENT_ID_MAX_LENGTH;
/** A value from a registry of short keywords: `grant_type`, `token_type_hint`, an `error` code. */
export const KEYWORD_MAX_LENGTH = 64;
/** A PKCE `code_challenge`: an S256 one is 43 characters, and a longer one is refused by its pattern, not cut. */
export const CODE_CHALLENGE_MAX_LENGTH = 128;
/** OIDC `prompt`: a few space-separated values. */
export const PROMPT_MAX_LENGTH = 100;
/** OIDC `max_age`: at most 9 digits are accepted; a little room so that a longer one is described, not cut. */
export const MAX_AGE_MAX_LENGTH = 10;
/** Any other single form parameter at the token endpoint: none a grant takes is longer than a token. */
export const PARAMETER_MAX_LENGTH = TOKEN_MAX_LENGTH;
/** A `return_to` path after sign-in (it carries the pending authorization request's id). */
export const RETURN_TO_MAX_LENGTH = 4096;
/** A registered client's display name (RFC 7591 §2 `client_name`). */
export const CLIENT_NAME_MAX_LENGTH = 100;
/** Redirect URIs, and post-logout redirect URIs, a client may register: each list at most this many. */
export const MAX_REDIRECT_URIS = 10;
/**
 * Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
 * the largest document read (the draft suggests 5 KB; a longer one is refused,
 * and reading stops there), bytes; how long a fetch may take before it is
 * abandoned, seconds; and the bounds a document's HTTP caching headers are
 * clamped to, seconds (5 minutes to 24 hours). The common path is one D1 read
 * and no fetch.
 */
export const CLIENT_METADATA_MAX_BYTES = 5 * 1024;
export const CLIENT_METADATA_FETCH_TIMEOUT = 3;
export const CLIENT_METADATA_MIN_TTL = 5 * 60;
export const CLIENT_METADATA_MAX_TTL = 24 * 60 * 60;
/** A book's title or author in the demo books API. */
export const BOOK_FIELD_MAX_LENGTH = 200;

/** Password length bounds, characters. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/** Every scope Tollgate knows, with the words the consent page shows for it. */
export const SCOPES = {
  openid: 'Confirm who you are (sign you in)',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Stay connected while you are away',
  'books:read': 'Read the books in your library',
  'books:write': 'Add books to your library',
} as const;
export type Scope = keyof typeof SCOPES;
export const SUPPORTED_SCOPES = Object.keys(SCOPES) as Scope[];

/** Grant types a client may register (RFC 7591 §2). */
export const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:device_code',
] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** Client authentication methods at the token endpoint (RFC 7591 §2). */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** The seeded public client that the /demo single-page app signs in as (scripts/start.mjs seeds it). */
export const DEMO_SPA_CLIENT_ID = 'demo-spa';
/** The seeded public device-flow client that `npm run device-login` signs in as (scripts/demo.ts seeds it). */
export const DEMO_CLI_CLIENT_ID = 'demo-cli';

/** Audience of the user API token: only the management API accepts it. */
export const USER_API_AUDIENCE = 'urn:tollgate:user-api';
/**
 * JOSE `typ` of the user API token (RFC 8725 §3.11: explicit typing). ID
 * tokens are typed `JWT` as OIDC clients expect; a user API token is typed
 * apart, so no other JWT Tollgate signs passes as one, whatever its `aud`.
 */
export const USER_API_TOKEN_TYPE = 'tollgate-user-api+jwt';
/** Path of the protected books API; the access token audience is the issuer plus this. */
export const BOOKS_API_PATH = '/api/books';
/** Path of the books MCP server (Streamable HTTP); its resource identifier (RFC 8707) is the issuer plus this. */
export const MCP_PATH = '/mcp';
/** RFC 9728 §3: protected resource metadata lives under this well-known prefix, the resource's path inserted after it (§3.1). */
export const PROTECTED_RESOURCE_METADATA_PREFIX = '/.well-known/oauth-protected-resource';
/** A `resource` value (RFC 8707 §2): an absolute URI, bounded like a redirect URI. Characters. */
export const RESOURCE_MAX_LENGTH = 2000;
/**
 * The most `resource` values one request may carry: every known resource once
 * (RFC 8707 §2 allows several); more can only repeat one or name an unknown one.
 */
export const MAX_RESOURCES_PER_REQUEST = 2;

/**
 * A KV `expirationTtl` for a value that must live `seconds`. KV rejects TTLs
 * under 60 s; rather than let a short lifetime fail at the first write in
 * production, refuse it here where a test can see it.
 */
export function kvTtl(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < KV_MIN_TTL) {
    throw new RangeError(`KV expirationTtl must be a whole number of seconds >= ${KV_MIN_TTL}, got ${seconds}`);
  }
  return seconds;
}

/**
 * The oldest `id_token_hint` the end_session_endpoint accepts as vouching for
 * a post-logout redirect, by its `iat`. OIDC RP-Initiated Logout 1.0 §2 asks
 * an OP to accept an expired ID token when the RP "has a current session or
 * had a recent session"; a session lives at most SESSION_TTL from sign-in, and
 * an ID token is issued after sign-in, so an older hint belongs to no session
 * that can still be open. A bound keeps a leaked or old hint from working for
 * as long as its key is published. 12 hours, seconds.
 */
export const ID_TOKEN_HINT_MAX_AGE = SESSION_TTL;

/**
 * How long a device cookie says "this browser signed in to this account
 * before" (OWASP device cookies): the account-wide sign-in limit lets such a
 * browser through. 90 days, seconds. It is also only honoured while the key
 * that signed it is published, so a browser that has not signed in since the
 * last key rotation (monthly) has none.
 */
export const DEVICE_TOKEN_TTL = 90 * 24 * 60 * 60;
/** Audience of the device cookie's token: only the sign-in limit accepts it. */
export const DEVICE_TOKEN_AUDIENCE = 'urn:tollgate:device';
/** JOSE `typ` of the device cookie's token (RFC 8725 §3.11: explicit typing, so no other token passes as one). */
export const DEVICE_TOKEN_TYPE = 'tollgate-device+jwt';

/** Cloudflare Turnstile: where its widget's script and frame come from, and where tokens are verified. */
export const TURNSTILE_ORIGIN = 'https://challenges.cloudflare.com';
export const TURNSTILE_SCRIPT_URL = `${TURNSTILE_ORIGIN}/turnstile/v0/api.js`;
export const TURNSTILE_SITEVERIFY_URL = `${TURNSTILE_ORIGIN}/turnstile/v0/siteverify`;
/** The widget's action on the sign-in page; siteverify must answer with the same. */
export const TURNSTILE_ACTION = 'login';
/** Longest Turnstile token accepted (Cloudflare documents at most 2,048). Characters. */
export const TURNSTILE_TOKEN_MAX_LENGTH = 2048;
/** How long to wait for siteverify before taking the challenge as not passed. 5 seconds, seconds. */
export const TURNSTILE_VERIFY_TIMEOUT = 5;

/**
 * How many pending authorization requests a browser carries in cookies at
 * once (one per tab on its way through /login): a new one past this drops
 * the oldest. Each sealed request is at most AUTH_REQUEST_COOKIE_MAX_LENGTH,
 * so the Cookie header a browser sends to Tollgate stays near 12 KB even when
 * another site makes it start requests at will. Cookies.
 */
export const AUTH_REQUEST_COOKIE_LIMIT = 3;
/**
 * Longest sealed authorization request carried in a cookie. RFC 6265 §6.1:
 * browsers keep at least 4096 bytes per cookie, name, value and attributes
 * together; the name (`__Host-tg_authreq_` and a 43-character id) and the
 * attributes take under 130 of them. A signed-out request that seals to more
 * (a state, nonce and redirect URI near their limits) is refused rather than
 * stored (services/authorization.ts). Characters.
 */
export const AUTH_REQUEST_COOKIE_MAX_LENGTH = 3900;

/** RFC 8628 §3.4: the device authorization grant's type at the token endpoint. */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code' satisfies GrantType;
/** RFC 8628 §3.2 `expires_in`: how long a device code and its user code live. 10 minutes, seconds. */
export const DEVICE_CODE_TTL = 10 * 60;
/** RFC 8628 §3.2 `interval`: the least time a device waits between two polls. 5 seconds, seconds. */
export const DEVICE_CODE_INTERVAL = 5;
/** RFC 8628 §3.5 `slow_down`: how much a device code's interval grows each time it is polled too soon. 5 seconds, seconds. */
export const DEVICE_CODE_SLOW_DOWN_STEP = 5;
/**
 * RFC 8628 §6.1: user codes are typed by people, so they use 20 consonants
 * only (no vowels spell words, no 0/O, 1/I confusion), 8 of them, shown
 * XXXX-XXXX: 20^8 (about 2.56e10) codes. SECURITY.md has the brute-force numbers.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Characters in a user code (without the dash). */
export const USER_CODE_LENGTH = 8;
/**
 * How long a device authorization's row is kept after it expired, so a late
 * poll still gets expired_token (RFC 8628 §3.5) rather than invalid_grant;
 * then the Cron Trigger deletes it. 1 day, seconds.
 */
export const DEVICE_AUTHORIZATION_RETENTION = 24 * 60 * 60;
/** Longest user code the /device form reads, with dashes and spaces a person may type. Characters. */
export const USER_CODE_MAX_LENGTH = 32;
/** The verification page users type the code into (RFC 8628 §3.2 `verification_uri`, under the issuer). */
export const DEVICE_VERIFICATION_PATH = '/device';
/** The device authorization endpoint (RFC 8628 §3.1), under the issuer. */
export const DEVICE_AUTHORIZATION_PATH = '/oauth2/device_authorization';

/** RFC 9126 §2: the pushed authorization request endpoint, under the issuer. */
export const PAR_PATH = '/oauth2/par';
/**
 * RFC 9126 §2.2 `expires_in`: how long a pushed request's `request_uri` may
 * be used (once). The RFC suggests 5 to 600 seconds; a client redirects the
 * browser at once, so 60 seconds, seconds.
 */
export const PUSHED_REQUEST_TTL = 60;
/** RFC 9126 §2.2: the URN prefix of every `request_uri` the PAR endpoint issues (then 256 random bits, base64url). */
export const PUSHED_REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** The registration endpoint (RFC 7591 §3); each client's configuration endpoint (RFC 7592 §2) is under it. */
export const REGISTRATION_PATH = '/oauth2/register';
/** Longest `request_uri` read at the authorization endpoint: ours are 77 characters; a longer one is refused, not cut. Characters. */
export const PUSHED_REQUEST_URI_MAX_LENGTH = 200;

/**
 * The Cron Triggers (wrangler.toml `[triggers] crons` lists both). Every run
 * prunes what has expired (codes, tokens, sessions, device and pushed
 * requests, audit past retention, idle clients nobody owns): daily, so
 * tables hold about a day of dead rows (docs/scaling.md). Only the monthly
 * run also rotates the signing keys: a device cookie is honoured only while
 * the key that signed it is published (DEVICE_TOKEN_TTL), so keys must not
 * turn over faster than that needs. On the 1st both fire; a second prune
 * finds nothing left to delete.
 */
export const PRUNE_CRON = '0 3 * * *';
export const KEY_ROTATION_CRON = '0 3 1 * *';

/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core
 * §9): the `client_assertion_type` a client sends with its signed assertion.
 */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/**
 * JWS algorithms a client assertion may be signed with: asymmetric only
 * (never `none`, never HS*: RFC 8725 §3.1, and an HMAC "signed" with a public
 * key proves nothing). Also `token_endpoint_auth_signing_alg_values_supported`.
 */
// Ed25519 is RFC 9864's fully-specified name for EdDSA over Ed25519, which
// oauth4webapi (openid-client) sends; both name the one scheme here.
export const CLIENT_ASSERTION_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export type ClientAssertionAlg = (typeof CLIENT_ASSERTION_ALGS)[number];
/**
 * The longest a client assertion may live: its `exp` at most this far after
 * its `iat` and after now (RFC 7523 §3 asks for an `exp`; a short one bounds
 * how long a leaked assertion and its `jti` row matter). 5 minutes, seconds.
 */
export const CLIENT_ASSERTION_MAX_LIFETIME = 5 * 60;
/** Clock skew allowed on a client assertion's `exp`, `nbf` and `iat` (RFC 7519 §4.1.4 "some small leeway"). 30 seconds, seconds. */
export const CLIENT_ASSERTION_CLOCK_SKEW = 30;
/** Longest `client_assertion` read: an RS256 assertion with a 4096-bit key is under 1,500. Characters. */
export const CLIENT_ASSERTION_MAX_LENGTH = 4096;
/** Longest `jti` a client assertion may carry (its SHA-256 is what is stored). Characters. */
export const CLIENT_ASSERTION_JTI_MAX_LENGTH = 256;
/** Keys a client's JWK Set (`jwks`, or what its `jwks_uri` serves) may hold. Keys. */
export const CLIENT_JWKS_MAX_KEYS = 10;
/** Largest client JWK Set, registered or fetched (reading a `jwks_uri` stops there). 16 KiB, bytes. */
export const CLIENT_JWKS_MAX_BYTES = 16 * 1024;
/** Smallest RSA modulus a client key may have (RFC 7518 §3.3: 2048 bits or larger). Bits. */
export const CLIENT_RSA_MIN_BITS = 2048;
/** How long a `jwks_uri` fetch may take before it is abandoned. 3 seconds, seconds. */
export const CLIENT_JWKS_FETCH_TIMEOUT = 3;
/**
 * Shortest time between two fetches of a client's `jwks_uri` when an
 * assertion names a `kid` its cached keys lack (a key rotation): made-up kids
 * must not turn into a fetch per request. 1 minute, seconds. Otherwise the
 * keys are kept as their Cache-Control says, within CLIENT_METADATA_MIN_TTL
 * and CLIENT_METADATA_MAX_TTL (the client ID metadata documents' rule).
 */
export const CLIENT_JWKS_REFETCH_MIN_INTERVAL = 60;
/** The token endpoint (RFC 6749 §3.2), under the issuer: one of the audiences a client assertion may name. */
export const TOKEN_PATH = '/oauth2/token';

// Two-factor: TOTP (RFC 6238) and recovery codes.
/** TOTP time step X (RFC 6238 §4.1, §5.2 recommends 30 s). 30 seconds, seconds. */
export const TOTP_PERIOD = 30;
/** Digits of a TOTP code (RFC 4226 §5.3: at least 6). 6 digits. */
export const TOTP_DIGITS = 6;
/** Steps of clock drift accepted either side of now (RFC 6238 §5.2 recommends at most one). 1 step. */
export const TOTP_DRIFT_STEPS = 1;
/** The TOTP shared secret (RFC 4226 §4 R6: 160 bits recommended). 20 bytes. */
export const TOTP_SECRET_BYTES = 20;
/** Recovery codes made at each setup, each usable once. 10 codes. */
export const RECOVERY_CODE_COUNT = 10;
/** Entropy of one recovery code (shown as 16 base32 characters). 10 bytes (80 bits). */
export const RECOVERY_CODE_BYTES = 10;
/** The longest code field read (a TOTP code or a recovery code with dashes and spaces). 64 characters. */
export const TWO_FACTOR_CODE_MAX_LENGTH = 64;
/**
 * How long a sign-in whose password was right waits for its code (the
 * pending sign-in row and its cookie). 5 minutes, seconds.
 */
export const PENDING_SIGN_IN_TTL = 5 * 60;
/**
 * RFC 8176 `amr` values and the `acr` each sign-in earns (README, "Two-factor
 * sign-in"): a password alone is `urn:tollgate:acr:pwd`; a password and a
 * second factor, or a passkey (which is both something held and something
 * known or are), is `urn:tollgate:acr:mfa`.
 */
export const ACR_PASSWORD = 'urn:tollgate:acr:pwd';
export const ACR_MFA = 'urn:tollgate:acr:mfa';
/** The `acr` values the ID token may carry (`acr_values_supported`, OIDC Discovery §3). */
export const ACR_VALUES_SUPPORTED = [ACR_PASSWORD, ACR_MFA] as const;
/** The longest `acr_values` read at the authorization endpoint (OIDC Core §3.1.2.1). Characters. */
export const ACR_VALUES_MAX_LENGTH = 512;

/**
 * Mail (services/mailer.ts). A password reset link lives 30 minutes (issue
 * 15; OWASP Forgot Password Cheat Sheet: short-lived, single use), seconds.
 */
export const PASSWORD_RESET_TTL = 30 * 60;
/** An email verification link lives a day: mail can be slow and read late. 24 hours, seconds. */
export const EMAIL_VERIFICATION_TTL = 24 * 60 * 60;
/**
 * At most this many links of one kind (reset, verification) are made for one
 * user per EMAIL_TOKEN_WINDOW, whatever the rate limits let through: nobody
 * can make Tollgate mail-bomb an address. Links.
 */
export const EMAIL_TOKENS_PER_WINDOW = 3;
/** The window of EMAIL_TOKENS_PER_WINDOW. 1 hour, seconds. */
export const EMAIL_TOKEN_WINDOW = 60 * 60;
/** The HTTP mail API's answer is awaited at most this long. 10 seconds, seconds. */
export const MAIL_API_TIMEOUT = 10;
/** The dev mailbox (DEV_MAILBOX=true, loopback issuers only) keeps the newest this many mails. Mails. */
export const DEV_MAILBOX_MAX_MESSAGES = 500;
/** The stored User-Agent of a session is cut to this length (only a device name is made of it). Characters. */
export const SESSION_USER_AGENT_MAX_LENGTH = 256;
/** A session's last_seen_at is written at most this often (a page view, off the response's path). 5 minutes, seconds. */
export const SESSION_LAST_SEEN_INTERVAL = 5 * 60;

// Sign-in through upstream identity providers (issue 17, services/upstream*.ts).
/** A pending upstream sign-in (Tollgate → provider → callback), sealed in a cookie, used once. 10 minutes, seconds. */
export const UPSTREAM_REQUEST_TTL = 10 * 60;
/** A pending link of an upstream account to an existing account, waiting for its owner to sign in. 10 minutes, seconds. */
export const UPSTREAM_LINK_TTL = 10 * 60;
/** How long a provider's discovery document is cached (KV and the isolate). 1 hour, seconds. */
export const UPSTREAM_METADATA_TTL = 60 * 60;
/** Each outbound call to a provider (discovery, JWKS, token, userinfo, GitHub's API). 5 seconds, milliseconds. */
export const UPSTREAM_FETCH_TIMEOUT_MS = 5_000;
/** The largest response read from a provider. 256 KiB, bytes. */
export const UPSTREAM_RESPONSE_MAX_BYTES = 256 * 1024;
/** Providers `UPSTREAM_PROVIDERS` may configure. 20 providers. */
export const UPSTREAM_PROVIDERS_MAX = 20;
/** The longest callback parameter read (`code`, `state`, `iss`, `error`). 2048 characters. */
export const UPSTREAM_CALLBACK_PARAM_MAX_LENGTH = 2048;

// DPoP, RFC 9449 (issue 14, services/dpop.ts).
/**
 * JWS algorithms a DPoP proof may be signed with (RFC 9449 §5.1
 * `dpop_signing_alg_values_supported`): asymmetric only, never `none` or an
 * HMAC (§4.3 (5): a proof must be verifiable by anyone holding the public key).
 */
export const DPOP_SIGNING_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;
/** How old a proof's `iat` may be (RFC 9449 §4.3 (11), §11.1). 5 minutes, seconds. */
export const DPOP_PROOF_MAX_AGE = 5 * 60;
/** How far in the future a proof's `iat` may be (clock skew, RFC 9449 §11.1). 1 minute, seconds. */
export const DPOP_PROOF_MAX_FUTURE = 60;
/** The longest DPoP proof read (a compact JWS with an RSA 4096 key in its header is about 2 KB). Characters. */
export const DPOP_PROOF_MAX_LENGTH = 8 * 1024;
/** The longest `jti` a proof may carry (RFC 9449 §4.2: 96 bits of randomness suffice). Characters. */
export const DPOP_JTI_MAX_LENGTH = 256;
/**
 * Whether the token endpoint requires a server nonce in every DPoP proof
 * (RFC 9449 §8): on by default, so a proof cannot be made ahead of time.
 */
export const DPOP_NONCE_REQUIRED_AT_TOKEN_ENDPOINT = true;
/**
 * A server nonce is an HMAC over a time slot of this length; the current and
 * the previous slot's nonces are accepted, so one lives 5 to 10 minutes. 5 minutes, seconds.
 */
export const DPOP_NONCE_SLOT = 5 * 60;

/** The relying party's name shown by authenticators at registration (W3C WebAuthn §5.4.1 `rp.name`). */
export const WEBAUTHN_RP_NAME = 'Tollgate';
/**
 * How long a WebAuthn challenge may be answered, once (W3C WebAuthn §13.4.3).
 * The browser's ceremony is given the same time (`timeout`). 5 minutes, seconds.
 */
export const WEBAUTHN_CHALLENGE_TTL = 5 * 60;
/** Longest credential (the JSON of a PublicKeyCredential) a passkey form takes; a ceremony's is 1-3 KB. Characters. */
export const WEBAUTHN_RESPONSE_MAX_LENGTH = 16 * 1024;
/** Longest name a user may give a passkey on /account. Characters. */
export const PASSKEY_NAME_MAX_LENGTH = 64;
/** Most passkeys one account may register (each is a row and an allowCredentials entry). */
export const PASSKEYS_PER_USER_MAX = 20;
/** Bytes of the credential id made up for an email with no passkeys (username-first sign-in; no enumeration). */
export const WEBAUTHN_DECOY_CREDENTIAL_BYTES = 16;

// The admin console (issue 18).
/** Rows per page of the admin lists (users, clients, audit log). */
export const ADMIN_PAGE_SIZE = 25;
/** The highest page number the admin lists accept: offset paging beyond it reads too much. */
export const ADMIN_MAX_PAGE = 400;
/** The longest search text of the admin lists, characters. */
export const ADMIN_SEARCH_MAX_LENGTH = 200;
/** The most audit events one CSV export holds, newest first (narrow the filters for older ones). */
export const AUDIT_CSV_MAX_ROWS = 10_000;
/** Default of the `AUDIT_RETENTION_DAYS` var: audit events and dashboard counters older than this are pruned daily. Days. */
export const AUDIT_RETENTION_DAYS_DEFAULT = 90;
/** The dashboard's two windows: the last day in hours and the last week in days. Hours. */
export const DASHBOARD_DAY_HOURS = 24;
export const DASHBOARD_WEEK_HOURS = 7 * 24;
/** One counter bucket of audit_counters (what the migration's triggers round `at` down to). 1 hour, seconds. */
export const COUNTER_BUCKET = 60 * 60;
/** The longest `dpop_jkt` read at the authorization endpoint (a SHA-256 thumbprint is 43; longer is described, not cut). Characters. */
export const DPOP_JKT_MAX_LENGTH = 128;
