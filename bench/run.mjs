// `npm run bench`: how fast Tollgate is, against the floor of this runtime.
//
// The Worker is bundled by wrangler and run with the Miniflare API on
// workerd's own socket (not behind wrangler dev's proxy), with fresh
// file-backed local D1 and KV (bench/harness.mjs). A thin wrapper module
// counts D1 round trips, D1 statements and KV calls per operation. autocannon
// measures each operation with 1 and 10 connections; whole authorization code
// flows run as loops. In the same run: a hello-world Worker (the runtime's
// ceiling), and a trivial Worker that prices one D1 round trip, each further
// statement in it, one KV get and one KV put, before and after Tollgate's
// measurements (local D1's price drifts by tens of percent within a run, so
// both are reported and their mean is used). Each operation's floor is
// hello-world + its storage calls at those prices. Writes bench/results.md.
// Everything listens on 127.0.0.1 and every load is bounded in time.
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../scripts/local.mjs';
import { bundle, CALIBRATION, countCalls, flowLoops, startTollgate, startWorker, workspace } from './harness.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 6); // seconds per measurement
const work = workspace();

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

/** Mean latency of each storage call over a no-op request, 1 connection. */
async function storagePrices(url) {
  const mean = async (p) => (await load(`${url}${p}`, { connections: 1 })).mean;
  const noop = await mean('/');
  const d1 = Math.max(0, (await mean('/d1')) - noop);
  const d1x4 = Math.max(0, (await mean('/d1x4')) - noop);
  return {
    d1,
    statement: Math.max(0, (d1x4 - d1) / 3),
    kvGet: Math.max(0, (await mean('/kv-get')) - noop),
    kvPut: Math.max(0, (await mean('/kv-put')) - noop),
  };
}

// ---------------------------------------------------------------- run

const started = Date.now();
console.log('Bundling…');
const helloBundle = bundle([path.join(ROOT, 'bench', 'hello-world.ts'), '--name', 'hello-world'], path.join(work.dir, 'hello-build'));

console.log('Hello-world ceiling…');
const hello = await startWorker(work.dir, 'hello', [['index.mjs', helloBundle]]);
const ceiling = await measure(`${hello.url}/`);
await hello.mf.dispose();

console.log('Pricing D1 and KV…');
const calibration = await startWorker(work.dir, 'calibration', [['index.mjs', CALIBRATION]], {
  d1Databases: { DB: 'calibration' },
  kvNamespaces: { KV: 'calibration' },
  d1Persist: path.join(work.dir, 'calibration-d1'),
  kvPersist: path.join(work.dir, 'calibration-kv'),
});
const pricesBefore = await storagePrices(calibration.url);

console.log('Tollgate…');
const tollgate = await startTollgate(work.dir);
const { url: tollgateUrl, fixture, form, bearer } = tollgate;

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
const flows = { c1: await flowLoops(fixture.codeFlow, 1, DURATION_S), c10: await flowLoops(fixture.codeFlow, 4, DURATION_S) };
operations.push({ name: 'whole code flow (authorize → code → token)', calls: flowCalls, ...flows, loops: true });
console.log(`  code flows: ${flows.c1.rps.toFixed(0)}/s (1 loop), ${flows.c10.rps.toFixed(0)}/s (4 loops)`);
await tollgate.mf.dispose();

console.log('Pricing D1 and KV again…');
const pricesAfter = await storagePrices(calibration.url);
await calibration.mf.dispose();
work.dispose();
const price = Object.fromEntries(Object.keys(pricesBefore).map((key) => [key, (pricesBefore[key] + pricesAfter[key]) / 2]));

// ---------------------------------------------------------------- report

const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
/** Hello-world per HTTP request, plus the storage calls at their prices: the issue's floor. */
const floorOf = (calls, requests) => ceiling.c1.mean * requests + calls.d1 * price.d1 + calls.kvGet * price.kvGet + calls.kvPut * price.kvPut;
/** The same, with each D1 statement after a batch's first at its own price. */
const statementFloorOf = (calls, requests) => floorOf(calls, requests) + Math.max(0, calls.statements - calls.d1) * price.statement;
const rows = operations.map((op) => {
  const requests = op.loops ? 2 : 1; // a code flow is two HTTP requests
  const floor = floorOf(op.calls, requests);
  const statementFloor = statementFloorOf(op.calls, requests);
  const errors = op.c1.errors + op.c10.errors;
  return `| ${op.name} | ${fixed(op.c1.rps, 0)} | ${fixed(op.c1.p50)} / ${fixed(op.c1.p99)} | ${fixed(op.c10.rps, 0)} | ${fixed(op.c10.p50)} / ${fixed(op.c10.p99)} | ${fixed(op.c1.rps / ceiling.c1.rps, 2)} | ${fixed(op.calls.d1)} (${fixed(op.calls.statements)}) | ${fixed(op.calls.kvGet)} + ${fixed(op.calls.kvPut)} | ${fixed(floor, 2)} | **${fixed(op.c1.mean / floor, 2)}** | ${fixed(op.c1.mean / statementFloor, 2)} |${errors > 0 ? ` ${errors} errors` : ''}`;
});
const priceLine = (p) => `D1 round trip ${fixed(p.d1, 2)} ms, each further statement in it ${fixed(p.statement, 2)} ms, KV get ${fixed(p.kvGet, 2)} ms, KV put ${fixed(p.kvPut, 2)} ms`;
const report = `# Benchmark results

Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${process.platform} ${process.arch}, Node ${process.version},
workerd via Miniflare on its own socket, local D1 and KV; ${DURATION_S} s per measurement). Numbers move
with the machine; the ratios are what to compare.

## Ceiling and storage prices

| | 1 connection | 10 connections |
|---|---|---|
| hello-world Hono Worker | ${fixed(ceiling.c1.rps, 0)} req/s, mean ${fixed(ceiling.c1.mean, 2)} ms | ${fixed(ceiling.c10.rps, 0)} req/s |

Storage prices (mean latency over a no-op request from a trivial Worker, 1 connection):

- before Tollgate's measurements: ${priceLine(pricesBefore)};
- after them: ${priceLine(pricesAfter)};
- used below (the mean): ${priceLine(price)}.

## Operations

Columns: requests per second and p50 / p99 latency (ms) with 1 and 10 connections (code flows: 1 and 4
loops, flows per second); req/s as a ratio to hello-world (1 connection); storage calls per operation
(D1 round trips, with the statements in them in brackets; KV gets + puts); the floor (hello-world
latency per HTTP request + the storage calls at their prices, ms) and actual mean latency / floor, the
issue's measure (in bold). The last column divides by a floor that also prices each statement after a
batch's first: local D1 runs every statement through its simulator, so a batch of four costs more than
a batch of one.

| operation | req/s (1) | p50 / p99 (1) | req/s (10) | p50 / p99 (10) | ÷ hello-world | D1 (statements) | KV | floor ms | actual / floor | actual / floor with statements |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Targets (issue 6): every operation within 1.3× its floor; one D1 round trip per bearer call, at most
two per refresh, one per client_credentials, at most four per whole code flow.

Run took ${fixed((Date.now() - started) / 1000, 0)} s.
`;
writeFileSync(path.join(ROOT, 'bench', 'results.md'), report);
console.log(`\n${report}`);
