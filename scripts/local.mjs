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

export const WRANGLER_ENV = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};

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
 */
export async function startTollgate({ deadlineMs = 30_000 } = {}) {
  const port = await freePort();
  const stateDir = mkdtempSync(path.join(tmpdir(), 'tollgate-state-'));
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), ISSUER: baseUrl, TOLLGATE_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  let exited = false;
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  child.on('exit', () => (exited = true));

  const stop = async () => {
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
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
    rmSync(stateDir, { recursive: true, force: true });
  };

  let metadata = null;
  while (!exited && Date.now() - started < deadlineMs) {
    try {
      const response = await fetch(`${baseUrl}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
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
