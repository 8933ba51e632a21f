// Shared by the local scripts: where local state lives and how wrangler is run
// so that it never prompts, never phones home and never needs a Cloudflare login.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

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
