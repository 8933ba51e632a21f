// `npm start`: local D1 migrations, the demo user and clients on first start,
// then `wrangler dev` on 127.0.0.1. No prompt, no Cloudflare account, no
// outbound calls; state persists under .wrangler/ until `npm run reset`.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ISSUER, importTypeScript, loadWrangler, localBindings, PORT, STATE_DIR, spawnWrangler, wrangler } from './local.mjs';

/** The dev mailbox (/dev/mailbox) on a loopback http issuer, the only kind Tollgate allows it on. */
const DEV_MAILBOX = /^http:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(ISSUER);

/** The demo's credentials: made once per local state, kept beside it (git-ignored). */
function demoCredentials(newDemoCredentials) {
  const file = path.join(STATE_DIR, 'tollgate-demo.json');
  if (existsSync(file)) return { demo: JSON.parse(readFileSync(file, 'utf8')), created: false };
  const demo = newDemoCredentials(ISSUER);
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(demo, null, 2), { mode: 0o600 });
  return { demo, created: true };
}

function printWelcome(demo, challenge) {
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
${DEV_MAILBOX ? `  Mailbox              ${ISSUER}/dev/mailbox  (DEV_MAILBOX=true: reset and verification mails are kept here, not sent)\n` : ''}  Admin console        ${ISSUER}/admin  (the demo user is an admin; npm run admin -- grant <email> makes another)
  Demo web app         client_id: ${demo.webClientId}  client_secret: ${demo.webClientSecret}  (client_secret_basic)
  Demo single-page app client_id: ${demo.spaClientId}  (public: PKCE, no secret): open ${ISSUER}/demo
  Redirect URI         ${demo.redirectUri}
  Demo CLI             client_id: demo-cli  (public, device flow): npm run device-login

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

/**
 * Upstream identity providers (issue 17): `UPSTREAM_PROVIDERS` and each
 * provider's `UPSTREAM_<ID>_CLIENT_SECRET` from this environment, checked
 * with the Worker's own parser before anything starts (a bad value stops
 * here with the same sentence the sign-in pages would show). The var goes to
 * wrangler dev as a --var; the secrets in an env file (mode 0600, beside the
 * local state) so they never appear on a command line. wrangler reads
 * .dev.vars only when no env file is given, so that file's lines are copied
 * in first.
 */
async function upstreamArgs() {
  const value = process.env.UPSTREAM_PROVIDERS?.trim();
  if (!value) return [];
  const { upstreamProviders, clientSecretName } = await importTypeScript('src/services/upstream-providers.ts');
  const config = upstreamProviders({ ...process.env, UPSTREAM_PROVIDERS: value });
  if (!config.ok) {
    console.error(`Tollgate: ${config.problem}`);
    process.exit(1);
  }
  const lines = existsSync('.dev.vars') ? [readFileSync('.dev.vars', 'utf8')] : [];
  for (const provider of config.providers) {
    if (/["\\\n\r]/.test(provider.clientSecret)) {
      console.error(`Tollgate: ${clientSecretName(provider.id)} holds a quote, backslash or line break, which an env file cannot carry`);
      process.exit(1);
    }
    lines.push(`${clientSecretName(provider.id)}="${provider.clientSecret}"`);
  }
  mkdirSync(STATE_DIR, { recursive: true });
  const envFile = path.join(STATE_DIR, 'upstream-secrets.env');
  writeFileSync(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created: one left by an earlier start keeps its own.
  chmodSync(envFile, 0o600);
  console.log(`  Upstream sign-in: ${config.providers.map((provider) => provider.name).join(', ')}\n`);
  return ['--var', `UPSTREAM_PROVIDERS:${value}`, '--env-file', envFile];
}

const persist = ['--persist-to', STATE_DIR];
console.log('Applying D1 migrations to local state…');
// The app's code for the demo (scripts/demo.ts) and wrangler's API load
// while the migrations run: loading takes seconds of the start-up time.
const loading = Promise.all([importTypeScript('scripts/demo.ts'), loadWrangler()]);
await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', ...persist]);
const [{ newDemoCredentials, s256Challenge, seedDemo }] = await loading;
const { demo, created } = demoCredentials(newDemoCredentials);
const { env, dispose } = await localBindings();
try {
  await seedDemo(env.DB, demo, ISSUER);
  // The admin console (/admin): the demo user is an admin, on every start (also for state seeded before it existed).
  await env.DB.prepare(`update users set role = 'admin' where id = ? and role <> 'admin'`).bind(demo.userId).run();
} finally {
  await dispose(); // before wrangler dev opens the same local D1
}
if (created) console.log('Seeded the demo user and clients.');
printWelcome(demo, await s256Challenge(demo.codeVerifier));
// Tollgate keeps D1-held signing keys unsealed only on a loopback issuer (SECURITY.md, "a database leak").
if (!(existsSync('.dev.vars') && /^KEY_ENCRYPTION_KEY\s*=/m.test(readFileSync('.dev.vars', 'utf8')))) {
  console.log('  Note: no KEY_ENCRYPTION_KEY in .dev.vars: signing keys are kept unencrypted in local D1 (refused off loopback).\n');
}

const dev = spawnWrangler([
  'dev',
  '--ip',
  '127.0.0.1',
  '--port',
  String(PORT),
  ...persist,
  '--var',
  `ISSUER:${ISSUER}`,
  // Mail stays on this machine, listed at /dev/mailbox; Tollgate refuses it
  // unless the issuer is http on loopback, so an ISSUER set otherwise goes without.
  ...(DEV_MAILBOX ? ['--var', 'DEV_MAILBOX:true'] : []),
  ...(await upstreamArgs()),
  '--show-interactive-dev-session=false',
]);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
