// `npm run bench`: how fast Tollgate is, against the floor of this runtime.
//
// The Worker is bundled by wrangler and run with the Miniflare API on
// workerd's own socket (not behind wrangler dev's proxy), with fresh
// file-backed local D1 and KV (bench/harness.mjs). Counting bindings
// (bench/counting-bindings.ts, the same the round-trip test uses) count D1
// round trips, D1 statements and KV calls per operation. autocannon
// measures each operation with 1 and 10 connections; whole authorization code
// flows run as loops. In the same run: a hello-world Hono Worker (the
// runtime's ceiling), and, right before each operation and in the same
// workerd, the floor's parts: a hello-world request, one D1 round trip, one
// KV get and one KV put (local D1's price drifts by tens of percent within a
// run, so a price measured minutes earlier misleads). Each operation's floor is
// hello-world + its storage calls at those prices. Writes bench/results.md.
// Everything listens on 127.0.0.1 and every load is bounded in time.
// BENCH_QUICK=1: a check that the bench runs and what it counts (about a
// minute, one short round per operation); its timings mean little, so it
// prints its report and leaves bench/results.md alone. BENCH_NOTE="...": a
// sentence for the report's header (say, that the machine was shared).
// DPoP rows (issue 14): the books call and a refresh, each request with a
// fresh proof (bench/harness.mjs dpopClient), beside the Bearer rows.
// `npm run bench -- --edge` runs bench/edge.mjs instead: the same operations
// under an edge latency model, into bench/results-edge.md.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT } from '../scripts/local.mjs';
import { bundleHelloWorld, countCalls, dpopClient, flowLoops, poolRequests, startTollgate, startWorker, workspace } from './harness.mjs';

if (process.argv.includes('--edge')) {
  await import('./edge.mjs');
  process.exit(0);
}

const QUICK = process.env.BENCH_QUICK === '1';
const DURATION_S = Number(process.env.BENCH_DURATION ?? (QUICK ? 1 : 6)); // seconds per measurement
// Each operation's 1-connection figures come from ROUNDS rounds of: the
// floor's prices (PRICE_S each), then the operation (DURATION_S / ROUNDS s).
// The round with the median actual/floor is reported, with the range: a
// single measurement moved by ±30% on a quiet machine.
const ROUNDS = QUICK ? 1 : 3;
const PRICE_S = QUICK ? 0.5 : 1; // seconds
// DPoP loads take one proof per request from a pool made before the load
// (bench/harness.mjs): its size is these rates (req/s, 1 and 10 connections),
// over twice what this machine serves, times the load's seconds.
const DPOP_POOL_RATES = { bearer: [1_000, 1_500], refresh: [600, 800] };
// Written into the report beside the machine, e.g. that it was shared with other work during the run.
const NOTE = process.env.BENCH_NOTE ? ` ${process.env.BENCH_NOTE.trim()}` : '';
const work = workspace();

// ---------------------------------------------------------------- measuring

async function load(url, { attach, exhausted, ...options }) {
  const instance = autocannon({ url, duration: DURATION_S, ...options });
  attach?.(instance);
  const result = await instance;
  if (exhausted?.()) console.warn(`  ${url}: the proof pool ran dry, the load stopped early`);
  if (result.errors + result.timeouts > 0 && result.requests.total === 0) throw new Error(`${url}: no request succeeded`);
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

/** Hello-world per HTTP request, plus the storage calls at the prices measured next to the operation: the issue's floor. */
const floorOf = ({ calls, prices }, requests) =>
  prices.hello * requests + calls.d1 * prices.d1 + calls.kvGet * (prices.kvGet ?? 0) + calls.kvPut * (prices.kvPut ?? 0);
/** Runs `round` ROUNDS times and returns the round with the median `ratio`, with every round's ratio. */
async function medianRound(round) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await round());
  const ratios = rounds.map((r) => r.ratio);
  return { ...[...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(ROUNDS / 2)], ratios };
}

/**
 * The floor's parts, in Tollgate's workerd, 1 connection: a hello-world
 * request's latency, and each storage call's latency over a no-op request.
 */
async function floorPrices(url, { kv = false, statements = false } = {}) {
  const mean = async (p) => (await autocannon({ url: `${url}/__bench/${p}`, duration: PRICE_S, connections: 1 })).latency.mean;
  const noop = await mean('noop');
  const over = async (p) => Math.max(0, (await mean(p)) - noop);
  const prices = { hello: await mean('hello'), d1: await over('d1') };
  if (kv) Object.assign(prices, { kvGet: await over('kv-get'), kvPut: await over('kv-put') });
  if (statements) prices.statement = Math.max(0, ((await over('d1x4')) - prices.d1) / 3);
  return prices;
}

// ---------------------------------------------------------------- run

const started = Date.now();
console.log('Bundling…');
const helloBundle = bundleHelloWorld(work.dir);

console.log('Hello-world ceiling…');
const hello = await startWorker(work.dir, 'hello', [['index.mjs', helloBundle]]);
const ceiling = await measure(`${hello.url}/`);
await hello.mf.dispose();

console.log('Tollgate…');
const tollgate = await startTollgate(work.dir);
const { url: tollgateUrl, fixture, form, bearer } = tollgate;
// What each statement after a batch's first adds, around the whole run.
const statementBefore = (await floorPrices(tollgateUrl, { statements: true })).statement;

const operations = [];
/**
 * Measures one operation. `options.autocannon` is autocannon's options, or an
 * async function of (connections, seconds) giving them afresh for each load
 * (a DPoP load's pool of proofs, made right before it).
 */
async function operation(name, options, callsOf) {
  const calls = await countCalls(tollgateUrl, callsOf);
  const url = `${tollgateUrl}${options.path}`;
  const optionsFor = async (connections, seconds) =>
    typeof options.autocannon === 'function' ? options.autocannon(connections, seconds) : options.autocannon;
  const { prices, c1, ratios } = await medianRound(async () => {
    const prices = await floorPrices(tollgateUrl, { kv: calls.kvGet + calls.kvPut > 0 });
    const seconds = DURATION_S / ROUNDS;
    const c1 = await load(url, { ...(await optionsFor(1, seconds)), connections: 1, duration: seconds });
    return { prices, c1, ratio: c1.mean / floorOf({ calls, prices }, 1) };
  });
  const c10 = await load(url, { ...(await optionsFor(10, DURATION_S)), connections: 10 });
  operations.push({ name, calls, prices, c1, c10, ratios });
  console.log(`  ${name}: ${c1.rps.toFixed(0)} req/s (1 conn), ${c10.rps.toFixed(0)} req/s (10 conns)`);
}

await operation('metadata GET', { path: '/.well-known/openid-configuration', autocannon: {} }, () =>
  fetch(`${tollgateUrl}/.well-known/openid-configuration`).then((r) => r.text()),
);
await operation('GET /api/books (bearer)', { path: '/api/books', autocannon: bearer }, () =>
  fetch(`${tollgateUrl}/api/books`, bearer).then((r) => r.text()),
);
await operation(
  'client_credentials grant',
  { path: '/oauth2/token', autocannon: form('grant_type=client_credentials&scope=books:read') },
  () => fetch(`${tollgateUrl}/oauth2/token`, form('grant_type=client_credentials&scope=books:read')).then((r) => r.text()),
);
const introspectBody = `token=${fixture.tokens.access_token}`;
await operation('introspection', { path: '/oauth2/introspect', autocannon: form(introspectBody) }, () =>
  fetch(`${tollgateUrl}/oauth2/introspect`, form(introspectBody)).then((r) => r.text()),
);
// Refresh: every request uses a fresh token from the pool (a reuse would revoke the family).
const pool = await fixture.mintRefreshTokens(6_000);
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

// DPoP (RFC 9449), beside the Bearer figures: every request carries a fresh
// proof by the bench's ES256 key (bench/harness.mjs dpopClient); the books
// call's proof names the access token (`ath`), the refresh's carries the
// server's nonce. The access token is bound to the key by a DPoP refresh.
const dpop = await dpopClient(tollgateUrl, fixture);
const dpopRefreshPool = await fixture.mintRefreshTokens(QUICK ? 2_000 : 9_000);
const boundToken = (await dpop.refresh(dpopRefreshPool.pop())).access_token;
const poolSize = (rates, connections, seconds) => Math.ceil(rates[connections > 1 ? 1 : 0] * seconds);
/** Fails the count (and so the run) when a DPoP call is refused: a figure of refusals would mislead. */
const ok = async (response) => {
  if (response.status !== 200) throw new Error(`DPoP call: ${response.status} ${await response.text()}`);
  return response.text();
};
const booksProof = { htm: 'GET', htu: '/api/books', accessToken: boundToken };
const dpopBooks = (proof) => ({ method: 'GET', headers: { Authorization: `DPoP ${boundToken}`, DPoP: proof } });
await operation(
  'DPoP bearer (books API)',
  {
    path: '/api/books',
    autocannon: async (connections, seconds) =>
      poolRequests(await dpop.proofs(poolSize(DPOP_POOL_RATES.bearer, connections, seconds), booksProof), dpopBooks),
  },
  async () => ok(await fetch(`${tollgateUrl}/api/books`, dpopBooks(await dpop.proof(booksProof)))),
);
// Each request: a fresh refresh token from the pool and a proof with the nonce.
const dpopRefresh = (proof) => ({
  method: 'POST',
  headers: { ...form('').headers, DPoP: proof },
  body: `grant_type=refresh_token&refresh_token=${dpopRefreshPool.pop()}`,
});
await operation(
  'DPoP refresh',
  {
    path: '/oauth2/token',
    autocannon: async (connections, seconds) =>
      poolRequests(
        await dpop.proofs(poolSize(DPOP_POOL_RATES.refresh, connections, seconds), { htm: 'POST', htu: '/oauth2/token', withNonce: true }),
        dpopRefresh,
      ),
  },
  async () => ok(await fetch(`${tollgateUrl}/oauth2/token`, dpopRefresh(await dpop.tokenProof()))),
);

const flowCalls = await countCalls(tollgateUrl, () => fixture.codeFlow(), 10);
const flowRound = await medianRound(async () => {
  const prices = await floorPrices(tollgateUrl, { kv: true });
  const c1 = await flowLoops(fixture.codeFlow, 1, DURATION_S / ROUNDS);
  return { prices, c1, ratio: c1.mean / floorOf({ calls: flowCalls, prices }, 2) };
});
const flows = { c1: flowRound.c1, c10: await flowLoops(fixture.codeFlow, 4, DURATION_S) };
operations.push({
  name: 'whole code flow (authorize → code → token)',
  calls: flowCalls,
  prices: flowRound.prices,
  ratios: flowRound.ratios,
  ...flows,
  loops: true,
});
console.log(`  code flows: ${flows.c1.rps.toFixed(0)}/s (1 loop), ${flows.c10.rps.toFixed(0)}/s (4 loops)`);
const statementAfter = (await floorPrices(tollgateUrl, { statements: true })).statement;
const statementPrice = (statementBefore + statementAfter) / 2;
await tollgate.mf.dispose();
work.dispose();

// ---------------------------------------------------------------- report

const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
/** The same, with each D1 statement after a batch's first at its own price. */
const statementFloorOf = (op, requests) => floorOf(op, requests) + Math.max(0, op.calls.statements - op.calls.d1) * statementPrice;
const rows = operations.map((op) => {
  const requests = op.loops ? 2 : 1; // a code flow is two HTTP requests
  const floor = floorOf(op, requests);
  const statementFloor = statementFloorOf(op, requests);
  const errors = op.c1.errors + op.c10.errors;
  const kvPrices = op.prices.kvGet === undefined ? '' : ` / ${fixed(op.prices.kvGet, 2)} / ${fixed(op.prices.kvPut, 2)}`;
  return `| ${op.name} | ${fixed(op.c1.rps, 0)} | ${fixed(op.c1.p50)} / ${fixed(op.c1.p99)} | ${fixed(op.c10.rps, 0)} | ${fixed(op.c10.p50)} / ${fixed(op.c10.p99)} | ${fixed(op.c1.rps / ceiling.c1.rps, 2)} | ${fixed(op.calls.d1)} (${fixed(op.calls.statements)}) | ${fixed(op.calls.kvGet)} + ${fixed(op.calls.kvPut)} | ${fixed(op.prices.hello, 2)} / ${fixed(op.prices.d1, 2)}${kvPrices} | ${fixed(floor, 2)} | **${fixed(op.c1.mean / floor, 2)}** (${fixed(Math.min(...op.ratios), 2)}–${fixed(Math.max(...op.ratios), 2)}) | ${fixed(op.c1.mean / statementFloor, 2)} |${errors > 0 ? ` ${errors} errors` : ''}`;
});
const report = `# Benchmark results

Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${process.platform} ${process.arch}, Node ${process.version},
workerd via Miniflare on its own socket, local D1 and KV; ${DURATION_S} s per measurement; ${os.cpus().length} cores).${NOTE} Numbers move
with the machine; the ratios are what to compare. The same operations under an edge latency model
(\`npm run bench -- --edge\`): [results-edge.md](results-edge.md).

## Ceiling

| | 1 connection | 10 connections |
|---|---|---|
| hello-world Hono Worker | ${fixed(ceiling.c1.rps, 0)} req/s, mean ${fixed(ceiling.c1.mean, 2)} ms | ${fixed(ceiling.c10.rps, 0)} req/s |

## Operations

Columns: requests per second and p50 / p99 latency (ms) with 1 and 10 connections (code flows: 1 and 4
loops, flows per second); req/s as a ratio to the hello-world Worker (1 connection); storage calls per
operation (D1 round trips, with the statements in them in brackets; KV gets + puts); the floor's prices,
measured in the same workerd just before the operation (${PRICE_S} s each, 1 connection: a hello-world request,
then one D1 round trip, one KV get and one KV put over a no-op request, ms); the floor (hello-world per
HTTP request + the storage calls at those prices, ms); actual mean latency / floor, the issue's measure
(in bold: the median of ${ROUNDS} rounds of prices-then-operation, ${fixed(DURATION_S / ROUNDS, 0)} s of operation each; all rounds' range in brackets;
the 1-connection columns are the median round's). The last column divides by a floor that also prices each statement after a batch's first
(${fixed(statementPrice, 2)} ms, measured before and after the operations: ${fixed(statementBefore, 2)} and ${fixed(statementAfter, 2)}): local D1 runs every statement of a batch
through its simulator.

| operation | req/s (1) | p50 / p99 (1) | req/s (10) | p50 / p99 (10) | ÷ hello-world | D1 (statements) | KV | prices: hello / D1 (/ KV get / put) | floor ms | actual / floor | with statements |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Targets (issue 6): every operation within 1.3× its floor; one D1 round trip per bearer call, at most
two per refresh, one per client_credentials, at most four per whole code flow. Issue 14: a DPoP bearer
call stays one D1 round trip with the proof's replay row in it (a write, so at the primary; a Bearer
call's read may go to a replica), a DPoP refresh one. The DPoP rows' floor is the same hello-world plus
D1 round trip: it does not price what DPoP adds by design, the proof's ES256 signature check and its
row, so their ratio shows that cost too.

Run took ${fixed((Date.now() - started) / 1000, 0)} s.
`;
if (!QUICK) writeFileSync(path.join(ROOT, 'bench', 'results.md'), report);
console.log(`\n${report}`);
