// `npm run keys:rotate`: rotates the signing keys in local state by running
// the Worker's own `scheduled` handler (the one the Cron Trigger runs in
// production) under `wrangler dev --test-scheduled` on a free loopback port.
// Deployed: `npx wrangler triggers` shows the schedule; rotation needs nothing else.
import { freePort, STATE_DIR, spawnWrangler } from './local.mjs';

const port = await freePort();

const dev = spawnWrangler(
  [
    'dev',
    '--test-scheduled',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--persist-to',
    STATE_DIR,
    '--show-interactive-dev-session=false',
  ],
  { detached: true, quiet: true },
);
let exited = false;
dev.on('exit', () => (exited = true));

async function jwks() {
  const response = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
  return (await response.json()).keys.map((key) => key.kid);
}

let ok = false;
try {
  const deadline = Date.now() + 30_000;
  while (!exited && Date.now() < deadline) {
    try {
      await jwks();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const before = await jwks();
  const response = await fetch(`http://127.0.0.1:${port}/__scheduled?cron=${encodeURIComponent('0 3 1 * *')}`);
  if (!response.ok) throw new Error(`scheduled handler answered ${response.status}`);
  // The handler's work runs in waitUntil; poll until the JWKS shows the new next key.
  for (let i = 0; i < 40; i++) {
    const after = await jwks();
    if (after.some((kid) => !before.includes(kid))) {
      console.log(`Signing keys rotated. JWKS before: ${before.join(', ')}\n                       after:  ${after.join(', ')}`);
      ok = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (!ok) console.error('The rotation did not show in the JWKS (is SIGNING_KEY set? it is rotated by its operator).');
} finally {
  try {
    process.kill(-dev.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
process.exit(ok ? 0 : 1);
