// `npm start`: local D1 migrations, the demo user and clients on first start,
// then `wrangler dev` on 127.0.0.1. No prompt, no Cloudflare account, no
// outbound calls; state persists under .wrangler/ until `npm run reset`.
import { createHash, pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ISSUER, PORT, STATE_DIR, spawnWrangler, wrangler } from './local.mjs';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
/** Same stored form as src/services/passwords.ts: pbkdf2-sha256$<iterations>$<salt>$<hash>. */
const PBKDF2_ITERATIONS = 100_000;
const hashPassword = (password) => {
  const salt = randomBytes(16);
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${b64url(salt)}$${b64url(pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 32, 'sha256'))}`;
};
const sha256 = (text) => b64url(createHash('sha256').update(text).digest());
const sql = (value) => (value === null ? 'NULL' : typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`);

/** The demo's credentials: made once per local state, kept beside it (git-ignored). */
function demoCredentials() {
  const file = path.join(STATE_DIR, 'tollgate-demo.json');
  if (existsSync(file)) return { ...JSON.parse(readFileSync(file, 'utf8')), created: false };
  const demo = {
    userId: randomUUID(),
    email: 'demo@tollgate.test',
    password: b64url(randomBytes(12)),
    webClientId: 'demo-web',
    webClientSecret: b64url(randomBytes(32)),
    spaClientId: 'demo-spa', // DEMO_SPA_CLIENT_ID in src/config.ts
    redirectUri: `${ISSUER}/demo/callback`,
    spaRedirectUri: `${ISSUER}/demo`,
    codeVerifier: b64url(randomBytes(32)),
  };
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(demo, null, 2), { mode: 0o600 });
  return { ...demo, created: true };
}

/** INSERT OR IGNORE: running it again changes nothing, so every start may run it. */
function seedSql(demo) {
  const now = Math.floor(Date.now() / 1000);
  const redirectUris = JSON.stringify([demo.redirectUri]);
  // Older local state has no spaRedirectUri: fall back to the page itself.
  const spaRedirectUris = JSON.stringify([demo.spaRedirectUri ?? `${ISSUER}/demo`]);
  const grantTypes = JSON.stringify(['authorization_code', 'refresh_token']);
  const rows = [
    ['users', { id: demo.userId, email: demo.email, name: 'Demo User', password_hash: hashPassword(demo.password), created_at: now }],
    [
      'clients',
      {
        id: demo.webClientId,
        owner_id: demo.userId,
        name: 'Demo web app',
        secret_hash: sha256(demo.webClientSecret),
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: redirectUris,
        grant_types: grantTypes,
        scope: null,
        created_at: now,
      },
    ],
    [
      'clients',
      {
        id: demo.spaClientId,
        owner_id: demo.userId,
        name: 'Demo single-page app',
        secret_hash: null,
        token_endpoint_auth_method: 'none',
        redirect_uris: spaRedirectUris,
        grant_types: grantTypes,
        scope: null,
        created_at: now,
      },
    ],
    // The public client may call the token endpoint from its own origin (CORS).
    ['client_origins', { origin: new URL(demo.redirectUri).origin, client_id: demo.spaClientId }],
  ];
  return rows
    .map(
      ([table, row]) =>
        `INSERT OR IGNORE INTO ${table} (${Object.keys(row).join(', ')}) VALUES (${Object.values(row).map(sql).join(', ')});`,
    )
    .join('\n');
}

function printWelcome(demo) {
  const challenge = b64url(createHash('sha256').update(demo.codeVerifier).digest());
  const authorize = new URL(`${ISSUER}/oauth2/authorize`);
  for (const [key, value] of Object.entries({
    response_type: 'code',
    client_id: demo.webClientId,
    redirect_uri: demo.redirectUri,
    scope: 'openid profile books:read books:write',
    state: 'demo-state',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }))
    authorize.searchParams.set(key, value);
  console.log(`
Tollgate: ${ISSUER}   (local D1 and KV in ${path.relative(process.cwd(), STATE_DIR) || '.'})

  Demo user            ${demo.email}  password: ${demo.password}
  Demo web app         client_id: ${demo.webClientId}  client_secret: ${demo.webClientSecret}  (client_secret_basic)
  Demo single-page app client_id: ${demo.spaClientId}  (public: PKCE, no secret): open ${ISSUER}/demo
  Redirect URI         ${demo.redirectUri}

  1. Open this, sign in as the demo user and press Allow:
     ${authorize.href}
  2. Trade the code shown on the callback page for tokens:
     curl -s -u '${demo.webClientId}:${demo.webClientSecret}' ${ISSUER}/oauth2/token \\
       -d grant_type=authorization_code -d redirect_uri=${demo.redirectUri} \\
       -d code_verifier=${demo.codeVerifier} -d code=PASTE_THE_CODE
  3. Call the books API:
     curl -s ${ISSUER}/api/books -H 'Authorization: Bearer PASTE_THE_ACCESS_TOKEN'
`);
}

const persist = ['--persist-to', STATE_DIR];
console.log('Applying D1 migrations to local state…');
await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', ...persist]);
const demo = demoCredentials();
const seedFile = path.join(tmpdir(), `tollgate-seed-${process.pid}.sql`);
writeFileSync(seedFile, seedSql(demo), { mode: 0o600 });
try {
  await wrangler(['d1', 'execute', 'DB', '--local', ...persist, '--file', seedFile]);
} finally {
  rmSync(seedFile, { force: true });
}
if (demo.created) console.log('Seeded the demo user and clients.');
printWelcome(demo);

const dev = spawnWrangler([
  'dev',
  '--ip',
  '127.0.0.1',
  '--port',
  String(PORT),
  ...persist,
  '--var',
  `ISSUER:${ISSUER}`,
  '--show-interactive-dev-session=false',
]);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
