// The README's promise, checked on every `npm test`: `npm start` on fresh
// state serves the OpenID configuration within 30 s, with no prompt.
// It starts the real script on a free loopback port with its own temporary
// state, polls 127.0.0.1 only (bounded in time), and stops it by process id.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './local.mjs';

const DEADLINE_MS = 30_000;
const POLL_MS = 250;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const stateDir = mkdtempSync(path.join(tmpdir(), 'tollgate-smoke-'));
const started = Date.now();
// detached: the script and the wrangler/workerd it starts share a new process
// group, so one signal to -pid stops them all (by id, never by name).
const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
  cwd: ROOT,
  env: { ...process.env, PORT: String(port), TOLLGATE_STATE_DIR: stateDir },
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
});
let output = '';
child.stdout.on('data', (chunk) => (output += chunk));
child.stderr.on('data', (chunk) => (output += chunk));
let exited = false;
child.on('exit', () => (exited = true));

const failures = [];
let metadata = null;
while (!exited && Date.now() - started < DEADLINE_MS) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
    if (response.ok) {
      metadata = await response.json();
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((resolve) => setTimeout(resolve, POLL_MS));
}
const elapsed = Date.now() - started;

if (!metadata) failures.push(exited ? 'npm start exited before serving' : `nothing served within ${DEADLINE_MS / 1000} s`);
else if (metadata.issuer !== `http://localhost:${port}`) failures.push(`issuer is ${metadata.issuer}`);
for (const expected of ['Demo user', 'client_secret', '/oauth2/authorize?']) {
  if (!output.includes(expected)) failures.push(`npm start did not print ${expected}`);
}

async function stop() {
  if (exited) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && !exited; i++) await new Promise((resolve) => setTimeout(resolve, 125));
  if (!exited) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
await stop();
rmSync(stateDir, { recursive: true, force: true });

if (failures.length > 0) {
  console.error(output.slice(-4000));
  console.error(`npm start smoke test failed: ${failures.join('; ')}`);
  console.log('start smoke: 0 passed, 1 failed');
  process.exit(1);
}
console.log(`npm start served /.well-known/openid-configuration after ${(elapsed / 1000).toFixed(1)} s`);
console.log('start smoke: 1 passed, 0 failed');
