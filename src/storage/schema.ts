import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { JSONWebKeySet, JWK } from 'jose';
import type { ClientAssertionAlg, ClientAuthMethod, GrantType } from '../config';

// Every time is whole seconds since the epoch. Every secret is stored as its
// SHA-256 (base64url) only; docs/storage-schema.md describes each table.

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** Lower-cased and trimmed, so sign-in is case-insensitive. */
    email: text('email').notNull().unique(),
    name: text('name').notNull(),
    /** `pbkdf2-sha256-nfkc$<iterations>$<salt>$<hash>`: carries its own parameters (services/passwords.ts). */
    passwordHash: text('password_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    /** When the user proved they receive mail at `email` (a verification link), or null: the `email_verified` claim (OIDC Core §5.1). */
    emailVerifiedAt: integer('email_verified_at'),
    /** `user` or `admin` (the admin console, issue 18). */
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    /** When an admin disabled the account, or null: a disabled user cannot sign in and their tokens stop working. */
    disabledAt: integer('disabled_at'),
  },
  (t) => [index('users_role_idx').on(t.role)],
);

export const sessions = sqliteTable(
  'sessions',
  {
    /** SHA-256 of the session cookie's value. */
    idHash: text('id_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** When the user last entered their password (OIDC Core `auth_time`). */
    authTime: integer('auth_time').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /**
     * How the user signed in, a JSON array of RFC 8176 `amr` values (e.g.
     * `["pwd"]`, `["pwd","otp"]`, `["hwk","user"]`, `["fed"]`): the ID token's
     * `amr` and `acr` follow it.
     */
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull().default(sql`'["pwd"]'`),
    /** The browser's User-Agent at sign-in (cut short), for the sessions list on /account. */
    userAgent: text('user_agent'),
    /** When the session was last used (updated at most every few minutes), for the sessions list. */
    lastSeenAt: integer('last_seen_at'),
  },
  // expires_at: the daily prune (storage/retention.ts) deletes by it.
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_expires_idx').on(t.expiresAt)],
);

/**
 * TOTP two-factor (RFC 6238), one row per user. Made unconfirmed when the
 * user starts setup on /account and confirmed by a first code; only a
 * confirmed row asks for a code at sign-in. A code is accepted once: its time
 * step must be greater than `last_used_step`, checked and set in one atomic
 * UPDATE (RFC 6238 §5.2).
 */
export const totpCredentials = sqliteTable('totp_credentials', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /**
   * The 20-byte shared secret (RFC 4226 §4) in base32, sealed with
   * AES-256-GCM under KEY_ENCRYPTION_KEY with `totp:<user id>` as additional
   * data (`aes256gcm:<iv>:<ciphertext>`); in clear only for a loopback issuer
   * without that secret (services/key-encryption.ts).
   */
  secret: text('secret').notNull(),
  /** When the first code confirmed it, or null while setup is unfinished. */
  confirmedAt: integer('confirmed_at'),
  /** The last time step (Unix time / 30 s) a code was accepted for; 0 before any. */
  lastUsedStep: integer('last_used_step').notNull().default(0),
  createdAt: integer('created_at').notNull(),
});

/** Two-factor recovery codes: ten per setup, shown once, each usable once in place of a code. Only hashes. */
export const recoveryCodes = sqliteTable(
  'recovery_codes',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** SHA-256 of the code (normalized: lower-case, no dash). */
    codeHash: text('code_hash').notNull(),
    usedAt: integer('used_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.codeHash] })],
);

/**
 * A sign-in whose password was right and whose second factor is still asked
 * for: keyed by the SHA-256 of a random cookie value (so bound to the browser
 * holding the cookie), bound to where the sign-in returns to, and deleted by
 * the code that completes it (single use). Lives PENDING_SIGN_IN_TTL.
 */
export const pendingSignIns = sqliteTable(
  'pending_sign_ins',
  {
    /** SHA-256 of the pending sign-in cookie's value. */
    idHash: text('id_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The same-origin path the sign-in goes on to (routes/login.tsx safeReturnTo). */
    returnTo: text('return_to').notNull(),
    /** RFC 8176 values of the factor already given, e.g. `["pwd"]`. */
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('pending_sign_ins_user_idx').on(t.userId), index('pending_sign_ins_expires_idx').on(t.expiresAt)],
);

/**
 * User API tokens from `POST /api/login`, one row per token. The token is a
 * JWT whose `jti` is a 256-bit random secret; only its SHA-256 is kept, and a
 * token stands only while its row does: `POST /api/logout` deletes one, and
 * "sign out everywhere" or a password change deletes all of a user's. A
 * database reader sees only hashes, so even with a signing key they cannot
 * make a token that stands.
 */
export const userApiTokens = sqliteTable(
  'user_api_tokens',
  {
    /** SHA-256 of the token's `jti`. */
    jtiHash: text('jti_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    /** The token's own `exp`: after it the row can go. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('user_api_tokens_user_idx').on(t.userId, t.expiresAt), index('user_api_tokens_expires_idx').on(t.expiresAt)],
);

export const clients = sqliteTable(
  'clients',
  {
    /** Random for a registered client; the document's https URL for a client ID metadata document client. */
    id: text('id').primaryKey(),
    /**
     * The user who registered the client with a user API token. Null for a
     * client nobody owns: one registered anonymously (open registration) or
     * taken from a client ID metadata document. The consent page marks those
     * unverified.
     */
    ownerId: text('owner_id').references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the client secret; null for public clients (`none`). */
    secretHash: text('secret_hash'),
    tokenEndpointAuthMethod: text('token_endpoint_auth_method').$type<ClientAuthMethod>().notNull(),
    redirectUris: text('redirect_uris', { mode: 'json' }).$type<string[]>().notNull(),
    /** Where RP-initiated logout may send the user afterwards (OIDC RP-Initiated Logout §3.1). */
    postLogoutRedirectUris: text('post_logout_redirect_uris', { mode: 'json' }).$type<string[]>().notNull().default([]),
    grantTypes: text('grant_types', { mode: 'json' }).$type<GrantType[]>().notNull(),
    /** Space-delimited scopes the client may request; null means any supported scope. */
    scope: text('scope'),
    createdAt: integer('created_at').notNull(),
    /**
     * A client ID metadata document client only: when the fetched document
     * goes stale (its HTTP caching headers, within bounds) and is fetched again.
     */
    metadataExpiresAt: integer('metadata_expires_at'),
    /**
     * RFC 9126 §6 `require_pushed_authorization_requests`: the authorization
     * endpoint takes this client's requests only through PAR (a `request_uri`).
     */
    requirePushedAuthorizationRequests: integer('require_pushed_authorization_requests', { mode: 'boolean' }).notNull().default(false),
    /**
     * SHA-256 of the RFC 7592 registration access token, issued with a
     * registration at /oauth2/register; null for a client that has none (seeded,
     * registered before RFC 7592 support, or a client ID metadata document's).
     */
    registrationTokenHash: text('registration_token_hash'),
    /**
     * RFC 9449 §5.2 `dpop_bound_access_tokens`: the token endpoint issues this
     * client only DPoP-bound access tokens, so a token request without a DPoP
     * proof is refused.
     */
    dpopBoundAccessTokens: integer('dpop_bound_access_tokens', { mode: 'boolean' }).notNull().default(false),
    /**
     * RFC 7591 §2 `jwks`: the public keys a `private_key_jwt` client signs its
     * assertions with (RFC 7523 §2.2), checked at registration. Null unless
     * the client registered them by value (else it has `jwks_uri`).
     */
    jwks: text('jwks', { mode: 'json' }).$type<JSONWebKeySet>(),
    /** RFC 7591 §2 `jwks_uri`: where a `private_key_jwt` client publishes its public keys (https, public host). */
    jwksUri: text('jwks_uri'),
    /**
     * The keys last fetched from `jwks_uri`, with when they were fetched and
     * when they go stale (their Cache-Control, clamped): null until the first
     * assertion. Public keys only, so nothing secret.
     */
    jwksUriCache: text('jwks_uri_cache', { mode: 'json' }).$type<CachedJwks>(),
    /** RFC 7591 §2 `token_endpoint_auth_signing_alg`: the one algorithm its assertions must use; null: any of CLIENT_ASSERTION_ALGS. */
    tokenEndpointAuthSigningAlg: text('token_endpoint_auth_signing_alg').$type<ClientAssertionAlg>(),
  },
  (t) => [index('clients_owner_idx').on(t.ownerId)],
);

/** A client's `jwks_uri` keys as last fetched (clients.jwks_uri_cache). Times in seconds since the epoch. */
export interface CachedJwks {
  keys: JWK[];
  fetchedAt: number;
  expiresAt: number;
}

/**
 * Client assertions spent (RFC 7523 §3 item 7: "The authorization server MAY
 * ensure that JWTs are not replayed by maintaining the set of used jti
 * values"): one row per accepted `private_key_jwt` assertion, until it would
 * fail its `exp` check anyway. At the token endpoint a plain INSERT in the
 * grant's own D1 batch decides single use: a replay's insert violates the
 * primary key and the whole batch fails (invalid_client).
 */
export const clientAssertions = sqliteTable(
  'client_assertions',
  {
    /** SHA-256 of the client id and the assertion's `jti` (bounded, whatever the client sent; jti is unique per issuer). */
    jtiHash: text('jti_hash').primaryKey(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
    /** The assertion's `exp` plus the clock skew: after it the row can go. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('client_assertions_client_idx').on(t.clientId), index('client_assertions_expires_idx').on(t.expiresAt)],
);

/**
 * One row per (user, client) approval: everything issued to the client for the
 * user hangs off it. A client registered for client_credentials also has one
 * grant with no user (id `cc:<client_id>`) for the tokens it gets for itself.
 */
export const grants = sqliteTable(
  'grants',
  {
    id: text('id').primaryKey(),
    /** Null for a client's own client_credentials grant. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
    /** Every scope the user has approved for this client. */
    scope: text('scope').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** When a token was last issued under the grant (code redeemed, refresh). */
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [uniqueIndex('grants_user_client_idx').on(t.userId, t.clientId), index('grants_client_idx').on(t.clientId)],
);

/**
 * Refresh tokens (RFC 6749 §6), rotated on every use (RFC 9700 §4.14.2).
 * A token's family is its grant: reuse of a rotated token deletes the grant,
 * and with it every token of the family.
 */
export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    /** SHA-256 of the token. */
    hash: text('hash').primaryKey(),
    grantId: text('grant_id')
      .notNull()
      .references(() => grants.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    userId: text('user_id').notNull(),
    /** The scope granted with the first token; every rotation keeps it (RFC 6749 §6). */
    scope: text('scope').notNull(),
    /**
     * RFC 8707 resources granted with the first token (null: the default, the
     * books API); every rotation keeps them, and a refresh may only narrow.
     */
    resource: text('resource', { mode: 'json' }).$type<string[]>(),
    authTime: integer('auth_time').notNull(),
    /** How the user signed in (RFC 8176 `amr`, from the session): the ID token's `amr` and `acr`. Rows from before it: `["pwd"]`. */
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull().default(sql`'["pwd"]'`),
    /** The token this one replaced; null for the first of the family. */
    parentHash: text('parent_hash'),
    /** Set with used_at: the token that replaced this one. */
    replacedBy: text('replaced_by'),
    usedAt: integer('used_at'),
    createdAt: integer('created_at').notNull(),
    /** Sliding: now + idle lifetime at each rotation, never past absolute_expires_at. */
    expiresAt: integer('expires_at').notNull(),
    absoluteExpiresAt: integer('absolute_expires_at').notNull(),
    /**
     * RFC 9449 §5: the JWK thumbprint (RFC 7638) of the DPoP key a public
     * client's family is bound to; every rotation keeps it and must prove
     * possession of that key. Null: not bound (a confidential client's, or one
     * issued without DPoP).
     */
    dpopJkt: text('dpop_jkt'),
  },
  (t) => [
    index('refresh_tokens_grant_idx').on(t.grantId),
    index('refresh_tokens_replaced_by_idx').on(t.replacedBy),
    // The daily prune (storage/retention.ts) deletes by expiry.
    index('refresh_tokens_expires_idx').on(t.expiresAt),
  ],
);

/** Access tokens revoked one by one (RFC 7009) before they expire, by `jti`. */
export const revokedTokens = sqliteTable(
  'revoked_tokens',
  {
    jti: text('jti').primaryKey(),
    /** The token's own `exp`: after it the row can go. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('revoked_tokens_expires_idx').on(t.expiresAt)],
);

/**
 * Web origins of public clients' redirect URIs, for CORS at the token,
 * revocation, introspection and userinfo endpoints.
 */
export const clientOrigins = sqliteTable(
  'client_origins',
  {
    origin: text('origin').notNull(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.origin, t.clientId] }), index('client_origins_client_idx').on(t.clientId)],
);

/** Authorization codes: D1 is the source of truth and redemption is one atomic UPDATE. */
export const codes = sqliteTable(
  'codes',
  {
    /** SHA-256 of the code. */
    hash: text('hash').primaryKey(),
    grantId: text('grant_id')
      .notNull()
      .references(() => grants.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    userId: text('user_id').notNull(),
    redirectUri: text('redirect_uri').notNull(),
    /** PKCE S256 challenge (RFC 7636 §4.2). */
    codeChallenge: text('code_challenge').notNull(),
    scope: text('scope').notNull(),
    /** RFC 8707 resources the request asked for; null for the default (the books API). */
    resource: text('resource', { mode: 'json' }).$type<string[]>(),
    nonce: text('nonce'),
    /** The user's claims for the ID token, by granted scope, as they were at approval (OIDC Core §5.4). */
    claims: text('claims', { mode: 'json' }).$type<Record<string, unknown>>(),
    /**
     * SHA-256 of the authorization request the code answers. UNIQUE: one
     * request yields at most one code, even when its consent form is posted
     * twice at once (the KV copy of the request cannot be consumed atomically).
     */
    requestHash: text('request_hash').notNull().unique(),
    authTime: integer('auth_time').notNull(),
    /** How the user signed in (RFC 8176 `amr`, from the session): the ID token's `amr` and `acr`. Rows from before it: `["pwd"]`. */
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull().default(sql`'["pwd"]'`),
    expiresAt: integer('expires_at').notNull(),
    redeemedAt: integer('redeemed_at'),
    /**
     * A random marker set by the request that redeemed the code: statements in
     * the same D1 batch (the grant's last use, the first refresh token) act
     * only where it is theirs, so a losing redemption mints nothing.
     */
    redemption: text('redemption'),
    createdAt: integer('created_at').notNull(),
    /**
     * RFC 9449 §10 `dpop_jkt` from the authorization request: the code is
     * redeemed only with a DPoP proof signed by the key of that thumbprint.
     * Null: the request named none.
     */
    dpopJkt: text('dpop_jkt'),
  },
  (t) => [index('codes_grant_idx').on(t.grantId), index('codes_expires_idx').on(t.expiresAt)],
);

/**
 * DPoP proofs seen (RFC 9449 §11.1): one row per (key, `jti`) while the proof
 * could still pass the `iat` window. A proof is accepted only by the request
 * whose insert made its row, in the same D1 batch as the request's own
 * statements (KV cannot decide single use). The daily prune deletes expired rows.
 */
export const dpopProofs = sqliteTable(
  'dpop_proofs',
  {
    /** SHA-256 of the key's JWK thumbprint and the proof's `jti`: bounded, whatever the client sent. */
    hash: text('hash').primaryKey(),
    /** When the proof's `iat` falls out of the accepted window: after it the row can go. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('dpop_proofs_expires_idx').on(t.expiresAt)],
);

export const books = sqliteTable(
  'books',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    author: text('author').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('books_user_idx').on(t.userId, t.createdAt)],
);

export type SigningKeyStatus = 'next' | 'current' | 'retired';

export const signingKeys = sqliteTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    alg: text('alg').notNull(),
    status: text('status').$type<SigningKeyStatus>().notNull(),
    publicJwk: text('public_jwk', { mode: 'json' }).$type<JsonWebKey>().notNull(),
    /** The private JWK: JSON, or `aes256gcm:<iv>:<ciphertext>` under KEY_ENCRYPTION_KEY when that secret is set. */
    privateJwk: text('private_jwk').notNull(),
    createdAt: integer('created_at').notNull(),
    retiredAt: integer('retired_at'),
  },
  // At most one current and one next key: concurrent first requests (and
  // rotations) race to insert, one wins.
  (t) => [
    uniqueIndex('signing_keys_one_current_idx').on(t.status).where(sql`status = 'current'`),
    uniqueIndex('signing_keys_one_next_idx').on(t.status).where(sql`status = 'next'`),
  ],
);

export type AuditEventType =
  | 'sign_in'
  | 'sign_in_failed'
  | 'sign_in_limited'
  | 'consent_granted'
  | 'grant_revoked'
  | 'refresh_reuse'
  | 'code_replay'
  | 'client_created'
  | 'client_deleted'
  | 'client_updated'
  | 'client_secret_rotated'
  | 'key_rotated'
  // The admin console (issue 18): `user_id` is the user acted on, `actor_id` the admin.
  | 'sign_in_refused'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_signed_out'
  | 'password_reset_required'
  | 'two_factor_reset'
  | 'admin_granted'
  | 'admin_revoked'
  | 'client_disabled'
  | 'client_enabled'
  // Two-factor sign-in (TOTP, issue 15).
  | 'password_accepted'
  | 'two_factor_enabled'
  | 'two_factor_disabled'
  | 'two_factor_failed'
  | 'recovery_code_used'
  // Passkeys (WebAuthn, issue 15).
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_sign_in_failed'
  | 'passkey_clone_suspected'
  | 'password_reset'
  | 'email_verified'
  | 'session_ended'
  // Upstream identity providers (issue 17).
  | 'identity_linked'
  | 'identity_unlinked'
  | 'upstream_accepted';

/**
 * Security events, for the user's "Recent activity" and for operators. Never
 * a secret: ids, times and the client IP only. A user's events go with the
 * user; a client's stay after the client is deleted (no foreign key).
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    type: text('type').$type<AuditEventType>().notNull(),
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id'),
    /** CF-Connecting-IP, when the request came through Cloudflare. */
    ip: text('ip'),
    /** Who did it, when not the user themselves: the admin of an admin action (no foreign key: the trail outlives the admin's account). */
    actorId: text('actor_id'),
  },
  // client and type: the admin audit log's filters, each with the time range.
  (t) => [
    index('audit_events_user_idx').on(t.userId, t.at),
    index('audit_events_at_idx').on(t.at),
    index('audit_events_client_idx').on(t.clientId, t.at),
    index('audit_events_type_idx').on(t.type, t.at),
  ],
);

/**
 * Hourly counts of events for the admin dashboard (issue 18): one row per
 * (hour, event). Kept by SQL triggers (migration 0009) in the statement that
 * records the event: an audit event's insert, a code's or device
 * authorization's redemption, a refresh token's rotation, an access token's
 * revocation, a sign-up. So a count never exists without its event, nothing
 * calls anything more, and reading a week of charts reads at most
 * 7 × 24 rows per event whatever the size of the audit log.
 */
export const auditCounters = sqliteTable(
  'audit_counters',
  {
    /** The hour's first second (Unix seconds, a multiple of 3600). */
    hour: integer('hour').notNull(),
    /** An audit event type, or a counted event that has no audit row (`token_<grant>`, `token_revoked`, `user_registered`, `server_error`). */
    event: text('event').notNull(),
    count: integer('count').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.hour, t.event] })],
);

/**
 * Clients an admin disabled: such a client authenticates nowhere and its
 * tokens stop working. A table of its own, not a column of `clients`: RFC 7592
 * updates and client ID metadata document refreshes rewrite the client's row,
 * and must never undo an admin's decision.
 */
export const disabledClients = sqliteTable('disabled_clients', {
  clientId: text('client_id')
    .primaryKey()
    .references(() => clients.id, { onDelete: 'cascade' }),
  disabledAt: integer('disabled_at').notNull(),
  /** The admin who disabled it (no foreign key: the record outlives the admin's account). */
  disabledBy: text('disabled_by'),
});

/**
 * Users an admin asked to choose a new password: their password no longer
 * signs them in until they set a new one (the reset flow deletes the row).
 * A table of its own so `users` rows (and every literal of them) stay as they are.
 */
export const passwordResetRequirements = sqliteTable('password_reset_requirements', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  requiredAt: integer('required_at').notNull(),
  requiredBy: text('required_by'),
});

export type User = typeof users.$inferSelect;
export type Client = typeof clients.$inferSelect;
export type Grant = typeof grants.$inferSelect;
export type Code = typeof codes.$inferSelect;
export type Book = typeof books.$inferSelect;
export type RefreshToken = typeof refreshTokens.$inferSelect;
export type SigningKey = typeof signingKeys.$inferSelect;

/** Where a device authorization stands (RFC 8628 §3.5): waiting for the user, or their answer. */
export type DeviceAuthorizationStatus = 'pending' | 'approved' | 'denied';

/**
 * Device authorization requests (RFC 8628): one row per device code, from
 * the device's request until it expires. The user's answer on /device sets
 * status, user, grant and claims; the device's poll redeems it once with one
 * atomic UPDATE (like codes), and keeps `last_polled_at` and `interval` for
 * slow_down (§3.5).
 */
export const deviceAuthorizations = sqliteTable(
  'device_authorizations',
  {
    /** SHA-256 of the device code (256 bits; the device's secret). */
    deviceCodeHash: text('device_code_hash').primaryKey(),
    /** SHA-256 of the normalized user code (8 letters, no dash). UNIQUE: a typed code names one request. */
    userCodeHash: text('user_code_hash').notNull().unique(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
    /** The scope the device asked for, as checked at the endpoint. */
    scope: text('scope').notNull(),
    /** RFC 8707 resources the device asked for (JSON list); null for none, the default (the books API). */
    resource: text('resource', { mode: 'json' }).$type<string[]>(),
    status: text('status').$type<DeviceAuthorizationStatus>().notNull(),
    /** Set by the answer: the user who approved or denied. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** Set on approval: the (user, client) grant the tokens hang off; revoking it ends the request too. */
    grantId: text('grant_id').references(() => grants.id, { onDelete: 'cascade' }),
    /** The user's claims for the ID token, by granted scope, as they were at approval (OIDC Core §5.4). */
    claims: text('claims', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** The approving session's sign-in time (OIDC Core `auth_time`). */
    authTime: integer('auth_time'),
    /** Set with auth_time at approval: how the user signed in (RFC 8176 `amr`, from the session). */
    amr: text('amr', { mode: 'json' }).$type<string[]>(),
    /** A random marker set with the answer: the grant and audit rows in the same batch act only where it is theirs. */
    decision: text('decision'),
    /** Seconds a device must wait between polls; grows by DEVICE_CODE_SLOW_DOWN_STEP per slow_down. */
    interval: integer('interval').notNull(),
    lastPolledAt: integer('last_polled_at'),
    expiresAt: integer('expires_at').notNull(),
    redeemedAt: integer('redeemed_at'),
    /** A random marker set by the poll that redeemed the request (see codes.redemption). */
    redemption: text('redemption'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('device_authorizations_client_idx').on(t.clientId),
    index('device_authorizations_grant_idx').on(t.grantId),
    index('device_authorizations_user_idx').on(t.userId),
    index('device_authorizations_expires_idx').on(t.expiresAt),
  ],
);

export type DeviceAuthorization = typeof deviceAuthorizations.$inferSelect;

/**
 * Pushed authorization requests (RFC 9126): one row per `request_uri`, from
 * the push until it expires (PUSHED_REQUEST_TTL, 60 s). The authorization
 * endpoint consumes a row once, with one atomic UPDATE that sets `used_at`;
 * the Cron Trigger deletes expired rows.
 */
export const pushedRequests = sqliteTable(
  'pushed_requests',
  {
    /** SHA-256 of the random part of the `request_uri` (256 bits). */
    hash: text('hash').primaryKey(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
    /** The authorization request's parameters as pushed and checked (never the client's credentials). */
    parameters: text('parameters', { mode: 'json' }).$type<Record<string, string | string[]>>().notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** Set when the authorization endpoint used it: a `request_uri` serves once (RFC 9126 §4). */
    usedAt: integer('used_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('pushed_requests_client_idx').on(t.clientId), index('pushed_requests_expires_idx').on(t.expiresAt)],
);

export type PushedRequest = typeof pushedRequests.$inferSelect;

/**
 * The replica clock: one row whose `at` the primary sets to its time now and
 * then (storage/replica-clock.ts). A read replica's copy of it says how fresh
 * that replica is: every write the primary committed before `at` is in the
 * replica's snapshot, so a read that also finds `at` within
 * REPLICA_MAX_STALENESS of now is at most that stale (services/replica.ts).
 */
export const replicaClock = sqliteTable('replica_clock', {
  /** Always 1: the table holds one row. */
  id: integer('id').primaryKey(),
  /** When the primary last set the clock (Unix seconds, the Worker's clock). */
  at: integer('at').notNull(),
});

/** Where a stored WebAuthn credential keeps its private key: one device, or synced between devices (W3C WebAuthn §6.1.3, the BE flag). */
export type PasskeyDeviceType = 'singleDevice' | 'multiDevice';

/**
 * Passkeys (W3C WebAuthn Level 3): one row per credential a user registered
 * on /account. Only public material: the credential id and its COSE public
 * key. The signature counter and the backup state are rewritten at every
 * sign-in (§6.1.1, §6.1.3); a counter that does not grow is refused.
 */
export const passkeys = sqliteTable(
  'passkeys',
  {
    /** The credential id (base64url), as the authenticator made it. */
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The credential public key, COSE_Key (RFC 9052 §7), base64url. */
    publicKey: text('public_key').notNull(),
    /** The signature counter last seen (§6.1.1); 0 for authenticators that keep none. */
    counter: integer('counter').notNull(),
    /** AuthenticatorTransport values the browser reported at registration, for allowCredentials (§5.8.4). */
    transports: text('transports', { mode: 'json' }).$type<string[]>().notNull(),
    /** `singleDevice` (not backup eligible, device-bound) or `multiDevice` (backup eligible, synced): the BE flag. */
    deviceType: text('device_type').$type<PasskeyDeviceType>().notNull(),
    /** The BS flag at the last ceremony: the key is backed up (synced). */
    backedUp: integer('backed_up', { mode: 'boolean' }).notNull(),
    /** What the user called it (may be empty). */
    name: text('name').notNull(),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('passkeys_user_idx').on(t.userId)],
);

export type Passkey = typeof passkeys.$inferSelect;

/** What a WebAuthn challenge is for. */
export type WebAuthnPurpose = 'registration' | 'authentication';

/**
 * WebAuthn challenges (§13.4.3: random, used once, short-lived): one row per
 * ceremony begun, bound to the browser by the random value of its
 * `tg_webauthn` cookie, of which only the SHA-256 is kept. Finishing the
 * ceremony deletes the row with one `DELETE … RETURNING`, so a challenge is
 * answered at most once; the Cron Trigger deletes expired rows.
 */
export const webauthnChallenges = sqliteTable(
  'webauthn_challenges',
  {
    /** SHA-256 of the `tg_webauthn` cookie's value (256-bit random). */
    idHash: text('id_hash').primaryKey(),
    /** Registration: the signed-in user. Sign-in: the user the typed email named, or null (discoverable). */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<WebAuthnPurpose>().notNull(),
    /** The challenge sent to the browser (base64url, 256-bit random). */
    challenge: text('challenge').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('webauthn_challenges_expires_idx').on(t.expiresAt)],
);

/** What an emailed link is for: confirming the address, or setting a new password. */
export type EmailTokenPurpose = 'verify_email' | 'reset_password';

/**
 * Links mailed to users (services/email-verification.ts, password-reset.ts):
 * one row per link, keyed by the SHA-256 of its 256-bit token (the token
 * itself is only in the mail). A link is used once: one UPDATE sets
 * `used_at` and a random `consumption` marker where it is unused and
 * unexpired, and the statements of the same D1 batch act only for the row
 * carrying that marker. The daily prune deletes expired rows.
 */
export const emailTokens = sqliteTable(
  'email_tokens',
  {
    /** SHA-256 of the link's token. */
    hash: text('hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<EmailTokenPurpose>().notNull(),
    /** The address the link was mailed to: a verification counts only while the user's email is still this one. */
    email: text('email').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** Set when the link was used: it never works again. */
    usedAt: integer('used_at'),
    /** A random marker set by the batch that used the link (see codes.redemption). */
    consumption: text('consumption'),
  },
  (t) => [index('email_tokens_user_idx').on(t.userId, t.purpose, t.createdAt), index('email_tokens_expires_idx').on(t.expiresAt)],
);

/**
 * The dev mailbox (DEV_MAILBOX=true, refused unless the issuer is http on a
 * loopback host): every mail Tollgate sends is kept here instead of leaving
 * the machine, and listed at /dev/mailbox. Holds links in clear, which is why
 * it can never be on in production. Bounded: each insert deletes all but the
 * newest DEV_MAILBOX_MAX_MESSAGES.
 */
export const devMailbox = sqliteTable('dev_mailbox', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  to: text('to_address').notNull(),
  subject: text('subject').notNull(),
  text: text('text_body').notNull(),
  html: text('html_body').notNull(),
  /** The http(s) links of the text part, in order (JSON list). */
  links: text('links', { mode: 'json' }).$type<string[]>().notNull(),
  sentAt: integer('sent_at').notNull(),
});

/**
 * Accounts at upstream identity providers linked to a Tollgate user (issue
 * 17): one row per provider account, keyed by the provider's id in
 * `UPSTREAM_PROVIDERS` and its stable subject (OIDC `sub`, GitHub's numeric
 * user id), never by email. A provider account belongs to one user.
 */
export const userIdentities = sqliteTable(
  'user_identities',
  {
    providerId: text('provider_id').notNull(),
    subject: text('subject').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The email the provider gave when the link was made (shown on /account), or null. */
    email: text('email'),
    linkedAt: integer('linked_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.providerId, t.subject] }), index('user_identities_user_idx').on(t.userId)],
);

export type UserIdentity = typeof userIdentities.$inferSelect;

/**
 * Pending upstream requests already used (the sealed sign-in state in the
 * browser's cookie, and a pending link): one row each, inserted once on
 * use, so a replayed cookie finds its row and is refused. The id names a
 * sealed cookie and opens nothing by itself.
 */
export const upstreamRequestsUsed = sqliteTable(
  'upstream_requests_used',
  {
    id: text('id').primaryKey(),
    /** When the request would have expired anyway: after it the row can go. */
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('upstream_requests_used_expires_idx').on(t.expiresAt)],
);
