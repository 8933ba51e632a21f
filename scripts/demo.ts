// `npm start`'s demo user and clients, made with the app's own code: its
// schema, password hashing, secret hashing and CORS origins rule, so the demo
// rows are what sign-up and client registration would store. Runs in Node
// (scripts/start.mjs imports it through esbuild) against local D1.
import { DEMO_CLI_CLIENT_ID, DEMO_SPA_CLIENT_ID, DEVICE_CODE_GRANT_TYPE } from '../src/config';
import { hashSecret, now, randomSecret } from '../src/lib/crypto';
import { hashPassword } from '../src/services/passwords';
import { corsOrigins } from '../src/storage/clients';
import { createDb } from '../src/storage/db';
import { type Client, clientOrigins, clients, users } from '../src/storage/schema';

export { s256Challenge } from '../src/lib/pkce';

/** The demo's credentials, made once per local state and kept beside it (tollgate-demo.json). */
export interface DemoCredentials {
  userId: string;
  email: string;
  password: string;
  webClientId: string;
  webClientSecret: string;
  spaClientId: string;
  redirectUri: string;
  /** Missing in older local state: the demo page itself then. */
  spaRedirectUri?: string;
  codeVerifier: string;
}

/** Fresh demo credentials for a Tollgate at `issuer`. */
export function newDemoCredentials(issuer: string): DemoCredentials {
  return {
    userId: crypto.randomUUID(),
    email: 'demo@tollgate.test',
    password: randomSecret(12),
    webClientId: 'demo-web',
    webClientSecret: randomSecret(),
    spaClientId: DEMO_SPA_CLIENT_ID,
    redirectUri: `${issuer}/demo/callback`,
    spaRedirectUri: `${issuer}/demo`,
    codeVerifier: randomSecret(),
  };
}

/**
 * Stores the demo user, the confidential web client, the public
 * single-page client (with the origins CORS allows it) and the public CLI
 * client of the device flow, in one D1 batch. Every insert does nothing where
 * its row exists, so every start may run it: it only fills in what is missing
 * (local state from before the CLI client gets it on its next start).
 */
export async function seedDemo(d1: D1Database, demo: DemoCredentials, issuer: string): Promise<void> {
  const db = createDb(d1);
  const createdAt = now();
  const grantTypes: Client['grantTypes'] = ['authorization_code', 'refresh_token'];
  const web: Client = {
    id: demo.webClientId,
    ownerId: demo.userId,
    name: 'Demo web app',
    secretHash: await hashSecret(demo.webClientSecret),
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: [demo.redirectUri],
    postLogoutRedirectUris: [],
    grantTypes,
    scope: null,
    createdAt,
    metadataExpiresAt: null,
    requirePushedAuthorizationRequests: false,
    registrationTokenHash: null,
    dpopBoundAccessTokens: false,
    jwks: null,
    jwksUri: null,
    jwksUriCache: null,
    tokenEndpointAuthSigningAlg: null,
  };
  const spa: Client = {
    ...web,
    id: demo.spaClientId,
    name: 'Demo single-page app',
    secretHash: null,
    tokenEndpointAuthMethod: 'none',
    redirectUris: [demo.spaRedirectUri ?? `${issuer}/demo`],
  };
  // `npm run device-login` (scripts/device-login.mjs): a public client of the
  // device grant (RFC 8628), no redirect URI, refresh tokens with offline_access.
  const cli: Client = {
    ...web,
    id: DEMO_CLI_CLIENT_ID,
    name: 'Demo CLI',
    secretHash: null,
    tokenEndpointAuthMethod: 'none',
    redirectUris: [],
    grantTypes: [DEVICE_CODE_GRANT_TYPE, 'refresh_token'],
  };
  const passwordHash = await hashPassword(demo.password);
  await db.batch([
    db.insert(users).values({ id: demo.userId, email: demo.email, name: 'Demo User', passwordHash, createdAt }).onConflictDoNothing(),
    db.insert(clients).values([web, spa, cli]).onConflictDoNothing(),
    db
      .insert(clientOrigins)
      .values(corsOrigins(spa).map((origin) => ({ origin, clientId: spa.id })))
      .onConflictDoNothing(),
  ]);
}
