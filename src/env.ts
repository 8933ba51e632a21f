import type { Db } from './storage/db';
import type { liveGrantQuery } from './storage/grants';
import type { Client, User } from './storage/schema';

/** Bindings from wrangler.toml, plus the secrets an operator may set. */
export interface Bindings {
  DB: D1Database;
  KV: KVNamespace;
  /** The issuer identifier, e.g. `https://auth.example.com` (no trailing slash). */
  ISSUER: string;
  /** Optional private signing key (a JWK, JSON) set with `wrangler secret put SIGNING_KEY`. */
  SIGNING_KEY?: string;
  /** Optional secret that encrypts private signing keys at rest in D1 (AES-256-GCM). */
  KEY_ENCRYPTION_KEY?: string;
  /** Static files from ./public (the demo app's script). */
  ASSETS: Fetcher;
  /** Rate Limiting bindings (wrangler.toml [[ratelimits]]). */
  SIGN_IN_LIMITER: RateLimit;
  SIGN_IN_IP_LIMITER: RateLimit;
  CLIENT_AUTH_LIMITER: RateLimit;
  REGISTRATION_LIMITER: RateLimit;
  SIGNUP_IP_LIMITER: RateLimit;
}

/** What a browser session resolves to. */
export interface SessionInfo {
  idHash: string;
  user: User;
  authTime: number;
}

/** Who a user API token belongs to. */
export interface ApiUser {
  userId: string;
}

/** The claims of a verified access token that Tollgate relies on (RFC 9068 §2.2, plus `gid`). */
export interface VerifiedAccessToken {
  sub: string;
  clientId: string;
  scope: string[];
  grantId: string;
  jti: string;
  iat: number;
  exp: number;
}

/** A verified access token that still stands, with the user it acts for (null: the client itself). */
export interface StandingAccessToken extends VerifiedAccessToken {
  userId: string | null;
}

/** A verified, standing access token, as a bearer route sees it. */
export interface AccessTokenInfo extends StandingAccessToken {
  token: string;
}

export type AppEnv = {
  Bindings: Bindings;
  Variables: {
    db: Db;
    issuer: string;
    session: SessionInfo | null;
    apiUser: ApiUser;
    accessToken: AccessTokenInfo;
    /** A bearer route's grant check, not yet run: `withStandingGrant` batches it with the route's read. */
    pendingGrantCheck: ReturnType<typeof liveGrantQuery> | undefined;
    client: Client;
    cspNonce: string;
  };
};
