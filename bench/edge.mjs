// `npm run bench -- --edge`: what Tollgate's storage calls cost at the edge.
//
// Local D1 and KV answer in about a millisecond; from a Cloudflare PoP, D1's
// primary may be a continent away. The counting bindings
// (bench/counting-bindings.ts) take a latency model and wait before each call:
// a D1 round trip to the primary or to a read replica, a KV read of a key this
// PoP read before (cached there) or not, a KV write. Each operation runs under
// two models, a PoP on another continent from the primary and a PoP next to
// it, and is measured with autocannon at 1 and 10 connections (whole code
// flows: 1 and 4 loops). The waits are added to local D1's and KV's own time,
// so the figures are the model's waits plus Tollgate's work. Writes
// bench/results-edge.md (BENCH_QUICK=1: prints only).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT } from '../scripts/local.mjs';
import { countCalls, dpopClient, flowLoops, poolRequests, startTollgate, workspace } from './harness.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const DURATION_S = Number(process.env.BENCH_DURATION ?? (QUICK ? 1 : 4)); // seconds per measurement
const COUNT_TIMES = 5; // runs per operation when counting its storage calls
// BENCH_NOTE="...": a sentence for the report (say, that the machine was shared).
const NOTE = process.env.BENCH_NOTE ? ` ${process.env.BENCH_NOTE.trim()}` : '';

/** The models, in ms (issue 16). */
const DEFAULTS = { replicaMs: 5, kvReadHotMs: 2, kvReadColdMs: 25, kvWriteMs: 25 };
const MODELS = [
  { name: 'PoP on another continent', model: { primaryMs: 80, ...DEFAULTS } },
  { name: 'PoP next to the primary', model: { primaryMs: 2, ...DEFAULTS } },
];

// DPoP loads take one proof per request from a pool made before each load
// (bench/harness.mjs): req/s over what a 1 and a 10 connection load reach, times its seconds.
const DPOP_POOL_RATES = [600, 1_000];

async function load(url, { attach, exhausted, ...options }, connections) {
  const instance = autocannon({ url, duration: DURATION_S, connections, ...options });
  attach?.(instance);
  const result = await instance;
  if (exhausted?.()) console.warn(`  ${url}: the proof pool ran dry, the load stopped early`);
  if (result.requests.total === 0) throw new Error(`${url}: no request succeeded`);
  return { p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors + result.timeouts };
}

/** Every operation under one model: its storage calls and its latency at 1 and 10 connections. */
async function runModel(work, model) {
  const { mf, url, fixture, form, bearer } = await startTollgate(work, { edgeModel: model });
  const results = [];
  /** `options`: autocannon's, or an async function of the connections giving them afresh for each load (a DPoP pool). */
  const http = async (name, pathname, options, once) => {
    const calls = await countCalls(url, once, COUNT_TIMES);
    const optionsFor = async (connections) => (typeof options === 'function' ? options(connections) : options);
    const c1 = await load(`${url}${pathname}`, await optionsFor(1), 1);
    const c10 = await load(`${url}${pathname}`, await optionsFor(10), 10);
    results.push({ name, calls, c1, c10 });
    console.log(`  ${name}: p50 ${c1.p50} ms (1 conn), ${c10.p50} ms (10 conns)`);
  };
  const text = (response) => response.text();

  await http('metadata GET', '/.well-known/openid-configuration', {}, () => fetch(`${url}/.well-known/openid-configuration`).then(text));
  await http('GET /api/books (bearer)', '/api/books', bearer, () => fetch(`${url}/api/books`, bearer).then(text));
  await http('GET /oauth2/userinfo (bearer)', '/oauth2/userinfo', bearer, () => fetch(`${url}/oauth2/userinfo`, bearer).then(text));
  const ccBody = 'grant_type=client_credentials&scope=books:read';
  await http('client_credentials grant', '/oauth2/token', form(ccBody), () => fetch(`${url}/oauth2/token`, form(ccBody)).then(text));
  const introspectBody = `token=${fixture.tokens.access_token}`;
  await http('introspection', '/oauth2/introspect', form(introspectBody), () =>
    fetch(`${url}/oauth2/introspect`, form(introspectBody)).then(text),
  );
  // Refresh: every request uses a fresh token from the pool (a reuse would revoke the family).
  const pool = await fixture.mintRefreshTokens(QUICK ? 500 : 3_000);
  const refreshBody = () => `grant_type=refresh_token&refresh_token=${pool.pop()}`;
  const refreshRequests = [{ method: 'POST', headers: form('').headers, setupRequest: (r) => ({ ...r, body: refreshBody() }) }];
  await http('refresh_token grant', '/oauth2/token', { requests: refreshRequests }, () =>
    fetch(`${url}/oauth2/token`, form(refreshBody())).then(text),
  );

  // DPoP (RFC 9449) beside the Bearer rows: a fresh proof per request
  // (bench/harness.mjs dpopClient), an access token bound by a DPoP refresh.
  const dpop = await dpopClient(url, fixture);
  const dpopPool = await fixture.mintRefreshTokens(QUICK ? 1_000 : 6_000);
  const boundToken = (await dpop.refresh(dpopPool.pop())).access_token;
  const poolSize = (connections) => Math.ceil(DPOP_POOL_RATES[connections > 1 ? 1 : 0] * DURATION_S);
  const ok = async (response) => {
    if (response.status !== 200) throw new Error(`DPoP call: ${response.status} ${await response.text()}`);
    return response.text();
  };
  const booksProof = { htm: 'GET', htu: '/api/books', accessToken: boundToken };
  const dpopBooks = (proof) => ({ method: 'GET', headers: { Authorization: `DPoP ${boundToken}`, DPoP: proof } });
  await http(
    'DPoP bearer (books API)',
    '/api/books',
    async (connections) => poolRequests(await dpop.proofs(poolSize(connections), booksProof), dpopBooks),
    async () => ok(await fetch(`${url}/api/books`, dpopBooks(await dpop.proof(booksProof)))),
  );
  const dpopRefresh = (proof) => ({
    method: 'POST',
    headers: { ...form('').headers, DPoP: proof },
    body: `grant_type=refresh_token&refresh_token=${dpopPool.pop()}`,
  });
  await http(
    'DPoP refresh',
    '/oauth2/token',
    async (connections) =>
      poolRequests(await dpop.proofs(poolSize(connections), { htm: 'POST', htu: '/oauth2/token', withNonce: true }), dpopRefresh),
    async () => ok(await fetch(`${url}/oauth2/token`, dpopRefresh(await dpop.tokenProof()))),
  );

  const calls = await countCalls(url, () => fixture.codeFlow(), COUNT_TIMES);
  const c1 = await flowLoops(fixture.codeFlow, 1, DURATION_S);
  const c10 = await flowLoops(fixture.codeFlow, 4, DURATION_S);
  results.push({ name: 'whole code flow (authorize → code → token)', calls, c1, c10, loops: true });
  console.log(`  code flow: p50 ${c1.p50.toFixed(0)} ms (1 loop), ${c10.p50.toFixed(0)} ms (4 loops)`);
  await mf.dispose();
  return results;
}

// ---------------------------------------------------------------- run

const started = Date.now();
const runs = [];
for (const { name, model } of MODELS) {
  console.log(`${name} (primary ${model.primaryMs} ms)…`);
  const work = workspace(); // fresh D1 and KV for each model
  try {
    runs.push({ name, model, results: await runModel(work.dir, model) });
  } finally {
    work.dispose();
  }
}

// ---------------------------------------------------------------- report

const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const ms = (n) => fixed(n, 0);
const section = ({ name, model, results }) => `## ${name}: primary ${model.primaryMs} ms

| operation | primary round trips | replica round trips | KV reads + writes | p50 / p99 ms (1) | p50 / p99 ms (10) |
|---|---|---|---|---|---|
${results
  .map((op) => {
    const errors = op.c1.errors + op.c10.errors;
    return `| ${op.name} | ${fixed(op.calls.d1 - op.calls.d1Replica)} | ${fixed(op.calls.d1Replica)} | ${fixed(op.calls.kvGet)} + ${fixed(op.calls.kvPut)} | ${ms(op.c1.p50)} / ${ms(op.c1.p99)} | ${ms(op.c10.p50)} / ${ms(op.c10.p99)} |${errors > 0 ? ` ${errors} errors` : ''}`;
  })
  .join('\n')}
`;
const [far] = MODELS;

/** Issue 16's acceptance targets for the far PoP's p50 at 1 connection, each against the measured figure. */
function acceptance({ model, results }) {
  const p50 = (name) => results.find((op) => op.name.startsWith(name))?.c1.p50 ?? Number.NaN;
  const targets = [
    ['bearer call', 'GET /api/books', 15, '15 ms'],
    ['userinfo', 'GET /oauth2/userinfo', 15, '15 ms'],
    ['refresh', 'refresh_token grant', model.primaryMs + 15, `1 primary round trip + 15 ms (${model.primaryMs + 15} ms)`],
    ['whole code flow', 'whole code flow', 2 * model.primaryMs + 30, `2 primary round trips + 30 ms (${2 * model.primaryMs + 30} ms)`],
  ];
  return `## Issue 16's targets (PoP on another continent, p50, 1 connection)

| operation | target | measured | met |
|---|---|---|---|
${targets.map(([label, name, limit, target]) => `| ${label} | ≤ ${target} | ${ms(p50(name))} ms | ${p50(name) <= limit ? 'yes' : 'no'} |`).join('\n')}
`;
}

const report = `# Benchmark results: the edge latency model

Measured by \`npm run bench -- --edge\` on ${new Date().toISOString().slice(0, 10)} (${process.platform} ${process.arch}, Node ${process.version},
workerd via Miniflare, local D1 and KV; ${DURATION_S} s per measurement). The counting bindings
(bench/counting-bindings.ts) wait before each storage call, on top of local D1's and KV's own time: a D1
round trip to the primary ${far.model.primaryMs} ms (a PoP on another continent) or 2 ms (a PoP next to the primary), to a
read replica ${DEFAULTS.replicaMs} ms (a read-only round trip in a \`withSession\` session that allows a replica); a KV read
${DEFAULTS.kvReadHotMs} ms for a key this isolate read before (the PoP's cache), ${DEFAULTS.kvReadColdMs} ms otherwise; a KV write ${DEFAULTS.kvWriteMs} ms.
Columns: storage calls per operation (the mean of ${COUNT_TIMES} runs), then p50 / p99 latency with 1 and 10
connections (whole code flows: 1 and 4 loops; a flow is two HTTP requests). Reads a replica may
answer (src/services/replica.ts) go through a \`withSession\` session; a replica whose replica clock is
more than 30 s old sends the read to the primary once, which sets the clock: a fraction of a primary
round trip in a mean (0.2: one of the ${COUNT_TIMES} runs) is that refresh. The DPoP rows (issue 14) send
a fresh proof with every request (bench/harness.mjs dpopClient); the proof's replay row is a write in the
request's one batch, so a DPoP bearer call goes to the primary where a Bearer call reads at a replica.${NOTE}

${runs.map(section).join('\n')}
${acceptance(runs[0])}
Run took ${fixed((Date.now() - started) / 1000, 0)} s.
`;
if (!QUICK) writeFileSync(path.join(ROOT, 'bench', 'results-edge.md'), report);
console.log(`\n${report}`);
