// Shared by the local scripts: where local state lives and how wrangler is run
// so that it never prompts, never phones home and never needs a Cloudflare login.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Local D1/KV state (wrangler's --persist-to); TOLLGATE_STATE_DIR moves it (the smoke test does). */
export const STATE_DIR = path.resolve(ROOT, process.env.TOLLGATE_STATE_DIR ?? '.wrangler/state');
export const PORT = Number(process.env.PORT ?? 8787);
export const ISSUER = process.env.ISSUER ?? `http://localhost:${PORT}`;

const QUIET_WRANGLER = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};
export const WRANGLER_ENV = { ...process.env, ...QUIET_WRANGLER };

const WRANGLER = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Runs wrangler with stdin closed; resolves with its output, rejects on a non-zero exit. */
export function wrangler(args, { quiet = true } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], {
      cwd: ROOT,
      env: WRANGLER_ENV,
      stdio: ['ignore', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit'],
    });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`wrangler ${args.join(' ')} exited ${code}\n${output}`))));
  });
}

/**
 * Starts a long-running wrangler (dev) with stdin closed. `detached` puts it in
 * a process group of its own, so the caller can stop it and its workerd by id.
 */
export function spawnWrangler(args, { detached = false, quiet = false } = {}) {
  return spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: WRANGLER_ENV,
    stdio: ['ignore', quiet ? 'ignore' : 'inherit', quiet ? 'ignore' : 'inherit'],
    detached,
  });
}

/**
 * Imports one of the project's TypeScript modules in Node (Node 20 runs no
 * TypeScript): esbuild bundles it with everything it imports, in memory, in
 * well under a second. So the scripts and the bench run the app's own code
 * (password and secret hashing, the schema, the CORS origins rule) instead of
 * copies of it. Web Crypto is a global in Node 20, as in workerd.
 */
export async function importTypeScript(file) {
  const { build } = await import('esbuild');
  const { outputFiles } = await build({
    entryPoints: [path.resolve(ROOT, file)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'error',
  });
  return import(`data:text/javascript;base64,${Buffer.from(outputFiles[0].contents).toString('base64')}`);
}

let wranglerApi;
/** Wrangler's API in this process, loaded once, as quiet and offline as the CLI runs here (it takes seconds to load). */
export function loadWrangler() {
  Object.assign(process.env, QUIET_WRANGLER); // read by wrangler in this process
  wranglerApi ??= import('wrangler');
  return wranglerApi;
}

/**
 * Local D1 and KV as `wrangler dev --persist-to STATE_DIR` sees them, from
 * Node, through wrangler's getPlatformProxy (no remote bindings). `dispose()`
 * it before another wrangler opens the same local state.
 */
export async function localBindings() {
  const { getPlatformProxy } = await loadWrangler();
  return getPlatformProxy({
    configPath: path.join(ROOT, 'wrangler.toml'),
    persist: { path: path.join(STATE_DIR, 'v3') }, // where `--persist-to STATE_DIR` keeps its data
    remoteBindings: false,
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `npm start`'s script on a free loopback port with fresh, temporary
 * state, and waits (at most `deadlineMs`) for discovery to answer. The issuer
 * is http://127.0.0.1:<port>, so every request stays on 127.0.0.1. `stop()`
 * ends the script, wrangler and workerd together by process group id.
 *
 * `issuerHost: 'localhost'` makes the issuer http://localhost:<port> instead
 * (still served on 127.0.0.1), for passkeys: the WebAuthn RP id is the
 * issuer's host and must be a domain, never an IP address (W3C WebAuthn
 * §5.1.4.1), and http://localhost is a secure context. `baseUrl` is then the
 * localhost origin a browser must use; Node's own requests here go to 127.0.0.1.
 *
 * `stateDir`: local state the caller made and keeps (the soak seeds users in
 * it before, and reads D1 from it after); `stop()` then leaves it in place.
 * `stop()` resolves once the process group has exited, so the state is free.
 */
export async function startTollgate({ deadlineMs = 30_000, issuerHost = '127.0.0.1', env = {}, stateDir: callerStateDir } = {}) {
  const port = await freePort();
  const stateDir = callerStateDir ?? mkdtempSync(path.join(tmpdir(), 'tollgate-state-'));
  const baseUrl = `http://${issuerHost}:${port}`;
  const loopbackUrl = `http://127.0.0.1:${port}`;
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
    cwd: ROOT,
    // `env`: more of the script's environment, e.g. UPSTREAM_PROVIDERS and its secrets.
    env: { ...process.env, ...env, PORT: String(port), ISSUER: baseUrl, TOLLGATE_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  let exited = false;
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exit = new Promise((resolve) => child.on('exit', resolve));
  child.on('exit', () => (exited = true));

  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // already gone
    }
  };
  const stop = async () => {
    if (!exited) {
      signal('SIGTERM');
      const timedOut = await Promise.race([exit.then(() => false), new Promise((resolve) => setTimeout(() => resolve(true), 5000))]);
      if (timedOut) {
        signal('SIGKILL');
        await exit;
      }
    }
    if (!callerStateDir) rmSync(stateDir, { recursive: true, force: true });
  };

  let metadata = null;
  while (!exited && Date.now() - started < deadlineMs) {
    try {
      const response = await fetch(`${loopbackUrl}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) {
        metadata = await response.json();
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { baseUrl, port, metadata, elapsedMs: Date.now() - started, output: () => output, stop };
}
