// `npm run bench`: how fast Tollgate is, against the floor of this runtime.
//
// The Worker is bundled by wrangler and run with the Miniflare API on
// workerd's own socket (not behind wrangler dev's proxy), with fresh
// file-backed local D1 and KV. A thin wrapper module counts D1 round trips and
// KV calls per operation. autocannon measures each operation with 1 and 10
// connections; whole authorization code flows run as loops. In the same run:
// a hello-world Worker (the runtime's ceiling), and a trivial Worker that
// prices one D1 round trip, one KV get and one KV put. Each operation's floor
// is hello-world + its storage calls at those prices. Writes bench/results.md.
// Everything listens on 127.0.0.1 and every load is bounded in time.
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { freePort, ROOT, WRANGLER_ENV } from '../scripts/local.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 6); // seconds per measurement
const COMPATIBILITY_DATE = '2026-04-26';
const work = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-'));
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const sha256 = (text) => b64url(createHash('sha256').update(text).digest());

// ---------------------------------------------------------------- workers

/** Counts D1 round trips (statement runs and batches) and KV calls, then runs Tollgate. */
const COUNTING_ENTRY = `
import tollgate from './tollgate.mjs';
const counts = { d1: 0, kvGet: 0, kvPut: 0 };
const real = new WeakMap();
function statement(stmt) {
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'bind') return (...args) => statement(value.apply(target, args));
      if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw') {
        return (...args) => { counts.d1++; return value.apply(target, args); };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  real.set(proxy, stmt);
  return proxy;
}
function d1(db) {
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'prepare') return (...args) => statement(value.apply(target, args));
      if (prop === 'batch') return (list) => { counts.d1++; return value.call(target, list.map((s) => real.get(s) ?? s)); };
      if (prop === 'exec') return (...args) => { counts.d1++; return value.apply(target, args); };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
function kv(ns) {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'get' || prop === 'getWithMetadata' || prop === 'list') return (...args) => { counts.kvGet++; return value.apply(target, args); };
      if (prop === 'put' || prop === 'delete') return (...args) => { counts.kvPut++; return value.apply(target, args); };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
// One wrapper per binding, made once, as the bindings themselves are.
const wrapped = new WeakMap();
function wrap(binding, make) {
  if (!wrapped.has(binding)) wrapped.set(binding, make(binding));
  return wrapped.get(binding);
}
export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === '/__bench/counts') return Response.json(counts);
    if (pathname === '/__bench/reset') { counts.d1 = 0; counts.kvGet = 0; counts.kvPut = 0; return new Response('ok'); }
    return tollgate.fetch(request, wrap(env, (e) => ({ ...e, DB: d1(e.DB), KV: kv(e.KV) })), ctx);
  },
};`;

/** Prices of the storage calls, each measured on its own. */
const CALIBRATION = `
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === '/d1') { await env.DB.batch([env.DB.prepare('select 1')]); return new Response('d1'); }
    if (pathname === '/kv-get') { await env.KV.get('calibration'); return new Response('kv-get'); }
    if (pathname === '/kv-put') { await env.KV.put('calibration', 'x', { expirationTtl: 60 }); return new Response('kv-put'); }
    return new Response('noop');
  },
};`;

function bundle(entry, outdir) {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir, ...entry], {
    cwd: ROOT,
    env: WRANGLER_ENV,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // wrangler names the bundle after its entry (index.js, hello-world.js).
  const output = readdirSync(outdir).find((file) => file.endsWith('.js'));
  return readFileSync(path.join(outdir, output), 'utf8');
}

async function startWorker(name, modules, extra = {}) {
  const port = await freePort();
  const dir = path.join(work, name);
  const mf = new Miniflare({
    host: '127.0.0.1',
    port,
    compatibilityDate: COMPATIBILITY_DATE,
    modulesRoot: dir,
    modules: modules.map(([file, contents]) => ({ type: 'ESModule', path: path.join(dir, file), contents })),
    ...extra,
  });
  await mf.ready;
  return { mf, url: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------- measuring

async function load(url, options) {
  const result = await autocannon({ url, duration: DURATION_S, ...options });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function measure(url, options) {
  return { c1: await load(url, { ...options, connections: 1 }), c10: await load(url, { ...options, connections: 10 }) };
}

// ---------------------------------------------------------------- Tollgate set-up

async function tollgateFixture(url, mf) {
  const db = await mf.getD1Database('DB');
  const migrations = readdirSync(path.join(ROOT, 'migrations')).filter((f) => f.endsWith('.sql')).sort();
  for (const file of migrations) {
    const sql = readFileSync(path.join(ROOT, 'migrations', file), 'utf8');
    for (const statement of sql.split('--> statement-breakpoint').map((s) => s.trim()).filter(Boolean)) {
      await db.prepare(statement).run();
    }
  }
  const json = async (p, body, headers = {}) => {
    const response = await fetch(url + p, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${p}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const user = { email: 'bench@example.com', password: 'bench password 1', name: 'Bench' };
  const { id: userId } = await json('/api/users', user);
  const { access_token: userToken } = await json('/api/login', user);
  const client = await json(
    '/oauth2/register',
    { client_name: 'Bench', redirect_uris: ['https://bench.example/cb'], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] },
    { Authorization: `Bearer ${userToken}` },
  );
  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;

  // A browser session through the real login form.
  const loginPage = await fetch(`${url}/login`);
  const csrfCookie = loginPage.headers.getSetCookie().find((c) => c.startsWith('tg_csrf=')).split(';')[0];
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(await loginPage.text())[1];
  const login = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: csrfCookie },
    body: new URLSearchParams({ csrf_token: csrf, ...user }),
  });
  const session = login.headers.getSetCookie().find((c) => c.startsWith('tg_session=')).split(';')[0];
  const cookie = `${csrfCookie}; ${session}`;

  const verifier = b64url(randomBytes(32));
  const challenge = sha256(verifier);
  const scope = 'openid books:read books:write offline_access';
  const authorizePath = `/oauth2/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: 'https://bench.example/cb',
    scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })}`;

  // The first authorization asks for consent; after it, consent is remembered.
  const consent = await (await fetch(url + authorizePath, { headers: { Cookie: cookie } })).text();
  const requestId = /name="request_id" value="([^"]+)"/.exec(consent)[1];
  const allowed = await fetch(`${url}/oauth2/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
    body: new URLSearchParams({ csrf_token: csrf, request_id: requestId, decision: 'allow' }),
  });
  const firstCode = new URL(allowed.headers.get('Location')).searchParams.get('code');

  /** One whole code flow: authorize (session, remembered consent) → code → tokens. */
  const codeFlow = async (code) => {
    if (!code) {
      const authorized = await fetch(url + authorizePath, { redirect: 'manual', headers: { Cookie: cookie } });
      code = new URL(authorized.headers.get('Location')).searchParams.get('code');
    }
    const response = await fetch(`${url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'https://bench.example/cb', code_verifier: verifier }),
    });
    if (!response.ok) throw new Error(`code flow: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const tokens = await codeFlow(firstCode);

  // A pool of refresh tokens, each used once, minted straight into D1 (only their hashes).
  const grant = await db.prepare('select id, user_id from grants where client_id = ? and user_id is not null').bind(client.client_id).first();
  const mintRefreshTokens = async (count) => {
    const pool = [];
    const now = Math.floor(Date.now() / 1000);
    for (let start = 0; start < count; start += 200) {
      const statements = [];
      for (let i = start; i < Math.min(count, start + 200); i++) {
        const token = b64url(randomBytes(32));
        pool.push(token);
        statements.push(
          db
            .prepare(
              'insert into refresh_tokens (hash, grant_id, client_id, user_id, scope, auth_time, created_at, expires_at, absolute_expires_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            )
            .bind(sha256(token), grant.id, client.client_id, grant.user_id, scope, now, now, now + 86400, now + 86400),
        );
      }
      await db.batch(statements);
    }
    return pool;
  };
  return { client, basic, tokens, userId, codeFlow, mintRefreshTokens };
}

async function countCalls(url, operation, times = 20) {
  await fetch(`${url}/__bench/reset`);
  for (let i = 0; i < times; i++) await operation();
  const counts = await (await fetch(`${url}/__bench/counts`)).json();
  return { d1: counts.d1 / times, kvGet: counts.kvGet / times, kvPut: counts.kvPut / times };
}

async function flowLoops(codeFlow, loops) {
  const end = Date.now() + DURATION_S * 1000;
  let flows = 0;
  const latencies = [];
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        await codeFlow();
        latencies.push(performance.now() - started);
        flows++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rps: flows / DURATION_S, p50: pick(0.5), p99: pick(0.99), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length, errors: 0 };
}

// ---------------------------------------------------------------- run

const started = Date.now();
console.log('Bundling…');
const tollgateBundle = bundle([], path.join(work, 'build'));
const helloBundle = bundle([path.join(ROOT, 'bench', 'hello-world.ts'), '--name', 'hello-world'], path.join(work, 'hello-build'));

console.log('Hello-world ceiling…');
const hello = await startWorker('hello', [['index.mjs', helloBundle]]);
const ceiling = await measure(`${hello.url}/`);
await hello.mf.dispose();

console.log('Calibrating D1 and KV…');
const storage = {
  d1Databases: { DB: 'calibration' },
  kvNamespaces: { KV: 'calibration' },
  d1Persist: path.join(work, 'calibration-d1'),
  kvPersist: path.join(work, 'calibration-kv'),
};
const calibration = await startWorker('calibration', [['index.mjs', CALIBRATION]], storage);
const price = {};
const noop = (await load(`${calibration.url}/`, { connections: 1 })).mean;
for (const op of ['d1', 'kv-get', 'kv-put']) price[op] = Math.max(0, (await load(`${calibration.url}/${op}`, { connections: 1 })).mean - noop);
await calibration.mf.dispose();

console.log('Tollgate…');
const limits = Object.fromEntries(
  ['SIGN_IN_LIMITER', 'SIGN_IN_IP_LIMITER', 'CLIENT_AUTH_LIMITER', 'REGISTRATION_LIMITER', 'SIGNUP_IP_LIMITER'].map((name) => [
    name,
    { simple: { limit: 1_000_000_000, period: 60 } },
  ]),
);
const tollgatePort = await freePort();
const tollgateUrl = `http://127.0.0.1:${tollgatePort}`;
const tollgateDir = path.join(work, 'tollgate');
const tollgate = new Miniflare({
  host: '127.0.0.1',
  port: tollgatePort,
  compatibilityDate: COMPATIBILITY_DATE,
  modulesRoot: tollgateDir,
  modules: [
    { type: 'ESModule', path: path.join(tollgateDir, 'entry.mjs'), contents: COUNTING_ENTRY },
    { type: 'ESModule', path: path.join(tollgateDir, 'tollgate.mjs'), contents: tollgateBundle },
  ],
  bindings: { ISSUER: tollgateUrl },
  d1Databases: { DB: 'tollgate' },
  kvNamespaces: { KV: 'tollgate' },
  d1Persist: path.join(work, 'tollgate-d1'),
  kvPersist: path.join(work, 'tollgate-kv'),
  ratelimits: limits,
});
await tollgate.ready;
const fixture = await tollgateFixture(tollgateUrl, tollgate);
const form = (body) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: fixture.basic }, body });
const bearer = { headers: { Authorization: `Bearer ${fixture.tokens.access_token}` } };

const operations = [];
async function operation(name, options, callsOf) {
  const calls = await countCalls(tollgateUrl, callsOf);
  const result = await measure(`${tollgateUrl}${options.path}`, options.autocannon);
  operations.push({ name, calls, ...result });
  console.log(`  ${name}: ${result.c1.rps.toFixed(0)} req/s (1 conn), ${result.c10.rps.toFixed(0)} req/s (10 conns)`);
}

await operation('metadata GET', { path: '/.well-known/openid-configuration', autocannon: {} }, () =>
  fetch(`${tollgateUrl}/.well-known/openid-configuration`).then((r) => r.text()),
);
await operation('GET /api/books (bearer)', { path: '/api/books', autocannon: bearer }, () => fetch(`${tollgateUrl}/api/books`, bearer).then((r) => r.text()));
await operation('client_credentials grant', { path: '/oauth2/token', autocannon: form('grant_type=client_credentials&scope=books:read') }, () =>
  fetch(`${tollgateUrl}/oauth2/token`, form('grant_type=client_credentials&scope=books:read')).then((r) => r.text()),
);
const introspectBody = `token=${fixture.tokens.access_token}`;
await operation('introspection', { path: '/oauth2/introspect', autocannon: form(introspectBody) }, () =>
  fetch(`${tollgateUrl}/oauth2/introspect`, form(introspectBody)).then((r) => r.text()),
);
// Refresh: every request uses a fresh token from the pool (a reuse would revoke the family).
const pool = await fixture.mintRefreshTokens(12_000);
const refreshBody = () => `grant_type=refresh_token&refresh_token=${pool.pop()}`;
await operation(
  'refresh_token grant',
  {
    path: '/oauth2/token',
    autocannon: {
      requests: [{ method: 'POST', headers: form('').headers, setupRequest: (request) => ({ ...request, body: refreshBody() }) }],
    },
  },
  () => fetch(`${tollgateUrl}/oauth2/token`, form(refreshBody())).then((r) => r.text()),
);
const flowCalls = await countCalls(tollgateUrl, () => fixture.codeFlow(), 10);
const flows = { c1: await flowLoops(fixture.codeFlow, 1), c10: await flowLoops(fixture.codeFlow, 4) };
operations.push({ name: 'whole code flow (authorize → code → token)', calls: flowCalls, ...flows, loops: true });
console.log(`  code flows: ${flows.c1.rps.toFixed(0)}/s (1 loop), ${flows.c10.rps.toFixed(0)}/s (4 loops)`);
await tollgate.dispose();
rmSync(work, { recursive: true, force: true });

// ---------------------------------------------------------------- report

const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const floorOf = (calls, requests = 1) => ceiling.c1.mean * requests + calls.d1 * price.d1 + calls.kvGet * price['kv-get'] + calls.kvPut * price['kv-put'];
const rows = operations.map((op) => {
  const requests = op.loops ? 2 : 1; // a code flow is two HTTP requests
  const floor = floorOf(op.calls, requests);
  return `| ${op.name} | ${fixed(op.c1.rps, 0)} | ${fixed(op.c1.p50)} / ${fixed(op.c1.p99)} | ${fixed(op.c10.rps, 0)} | ${fixed(op.c10.p50)} / ${fixed(op.c10.p99)} | ${fixed(op.c1.rps / ceiling.c1.rps, 2)} | ${fixed(op.calls.d1)} | ${fixed(op.calls.kvGet)} + ${fixed(op.calls.kvPut)} | ${fixed(floor, 2)} | ${fixed(op.c1.mean / floor, 2)} |${op.c1.errors + op.c10.errors > 0 ? ` ${op.c1.errors + op.c10.errors} errors` : ''}`;
});
const report = `# Benchmark results

Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${process.platform} ${process.arch}, Node ${process.version},
workerd via Miniflare on its own socket, local D1 and KV; ${DURATION_S} s per measurement). Numbers move
with the machine; the ratios are what to compare.

## Ceiling and storage prices

| | 1 connection | 10 connections |
|---|---|---|
| hello-world Hono Worker | ${fixed(ceiling.c1.rps, 0)} req/s, mean ${fixed(ceiling.c1.mean, 2)} ms | ${fixed(ceiling.c10.rps, 0)} req/s |

One D1 round trip costs ${fixed(price.d1, 2)} ms, one KV get ${fixed(price['kv-get'], 2)} ms, one KV put ${fixed(price['kv-put'], 2)} ms
(mean latency over a no-op request, 1 connection).

## Operations

Columns: requests per second and p50 / p99 latency (ms) with 1 and 10 connections (code flows: 1 and 4
loops, flows per second); req/s as a ratio to hello-world (1 connection); storage calls per operation
(D1 round trips; KV gets + puts); the floor (hello-world latency + the storage calls at their measured
prices, ms) and actual mean latency / floor.

| operation | req/s (1) | p50 / p99 (1) | req/s (10) | p50 / p99 (10) | ÷ hello-world | D1 | KV | floor ms | actual / floor |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Targets (issue 6): every operation within 1.3× its floor; one D1 round trip per bearer call, at most
two per refresh, one per client_credentials, at most four per whole code flow.

Run took ${fixed((Date.now() - started) / 1000, 0)} s.
`;
writeFileSync(path.join(ROOT, 'bench', 'results.md'), report);
console.log(`\n${report}`);
