// The JavaScript cost of one hot statement three ways, in Node over a stub D1
// binding (no SQLite, no I/O): Drizzle's builder (SQL built per run), bind()
// over a prepared query (storage/prepared.ts), and D1's public API with SQL
// from toSQL() and a hand-written row mapper. It backs the choice explained in
// storage/prepared.ts. Run: npx tsx bench/prepared-micro.ts
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { bind } from '../src/storage/prepared';
import * as schema from '../src/storage/schema';

const { clients } = schema;
const ROUNDS = 5;
const CALLS = 50_000; // per way and round
const WARM_UP = 2_000;

const row = {
  id: 'c1',
  owner_id: 'u1',
  name: 'App',
  secret_hash: null,
  token_endpoint_auth_method: 'none',
  redirect_uris: '["https://app.example/cb"]',
  post_logout_redirect_uris: '[]',
  grant_types: '["authorization_code"]',
  scope: 'openid',
  created_at: 1,
  metadata_expires_at: null,
  require_pushed_authorization_requests: 0,
  registration_token_hash: null,
  dpop_bound_access_tokens: 0,
  jwks: null,
  jwks_uri: null,
  jwks_uri_cache: null,
  token_endpoint_auth_signing_alg: null,
};

/** A D1 statement that answers the one row at once. */
function stubStatement(): D1PreparedStatement {
  const statement = {
    bind: () => statement,
    all: async () => ({ results: [row] }),
    raw: async () => [Object.values(row)],
    run: async () => ({ results: [], meta: {} }),
  };
  return statement as unknown as D1PreparedStatement;
}

const d1 = {
  prepare: () => stubStatement(),
  batch: async (list: unknown[]) => list.map(() => ({ results: [row] })),
} as unknown as D1Database;
const db = drizzle(d1, { schema });

const prepared = db
  .select()
  .from(clients)
  .where(eq(clients.id, sql.placeholder('id')))
  .limit(1)
  .prepare();
const raw = d1.prepare(db.select().from(clients).where(eq(clients.id, 'c1')).limit(1).toSQL().sql);
const mapClient = (r: typeof row): schema.Client => ({
  id: r.id,
  ownerId: r.owner_id,
  name: r.name,
  secretHash: r.secret_hash,
  tokenEndpointAuthMethod: r.token_endpoint_auth_method as schema.Client['tokenEndpointAuthMethod'],
  redirectUris: JSON.parse(r.redirect_uris),
  postLogoutRedirectUris: JSON.parse(r.post_logout_redirect_uris),
  grantTypes: JSON.parse(r.grant_types),
  scope: r.scope,
  createdAt: r.created_at,
  metadataExpiresAt: r.metadata_expires_at,
  requirePushedAuthorizationRequests: Boolean(r.require_pushed_authorization_requests),
  registrationTokenHash: r.registration_token_hash,
  dpopBoundAccessTokens: Boolean(r.dpop_bound_access_tokens),
  jwks: null,
  jwksUri: null,
  jwksUriCache: null,
  tokenEndpointAuthSigningAlg: null,
});

const ways: Record<string, () => Promise<unknown>> = {
  'builder, built per run': () => db.batch([db.select().from(clients).where(eq(clients.id, 'c1')).limit(1)]),
  'bind() over prepared': () => db.batch([bind(prepared, { id: 'c1' })]),
  'D1 API + row mapper': async () => (await d1.batch([raw.bind('c1')])).map((result) => (result.results as (typeof row)[]).map(mapClient)),
};

const times = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(ways)) {
    for (let i = 0; i < WARM_UP; i++) await run();
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) await run();
    const perCall = Number(process.hrtime.bigint() - start) / 1000 / CALLS;
    times.set(name, [...(times.get(name) ?? []), perCall]);
  }
}
for (const [name, list] of times) {
  const sorted = [...list].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(`${name.padEnd(24)} median ${median.toFixed(1)} µs/call (range ${sorted[0]?.toFixed(1)}-${sorted.at(-1)?.toFixed(1)})`);
}
