// `npm run bench:profile -- <operation> [seconds]`: where one operation's CPU
// goes. Tollgate runs as in `npm run bench` (bench/harness.mjs), with
// workerd's inspector on; after a warm-up the operation runs in a loop for a
// few seconds while V8's sampling profiler records Tollgate's isolate and
// local D1's. Writes one .cpuprofile per isolate to bench/profiles/ (open it
// in Chrome DevTools' Performance panel) and prints the functions with the
// most samples. Profiling slows everything: compare shares, not times.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, ROOT } from '../scripts/local.mjs';
import { startTollgate, workspace } from './harness.mjs';

const [operationName = 'bearer', secondsArg = '5'] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const WARM_UP = 200;
const TOP = 25;

const work = workspace();
const inspectorPort = await freePort();
const tollgate = await startTollgate(work.dir, { inspectorPort });
const { url, fixture, form, bearer } = tollgate;
const pool = operationName === 'refresh' ? await fixture.mintRefreshTokens(SECONDS * 1000 + WARM_UP) : [];
const operations = {
  metadata: () => fetch(`${url}/.well-known/openid-configuration`).then((r) => r.text()),
  bearer: () => fetch(`${url}/api/books`, bearer).then((r) => r.text()),
  cc: () => fetch(`${url}/oauth2/token`, form('grant_type=client_credentials&scope=books:read')).then((r) => r.text()),
  introspect: () => fetch(`${url}/oauth2/introspect`, form(`token=${fixture.tokens.access_token}`)).then((r) => r.text()),
  refresh: () => fetch(`${url}/oauth2/token`, form(`grant_type=refresh_token&refresh_token=${pool.pop()}`)).then((r) => r.text()),
  flow: () => fixture.codeFlow(),
};
const run = operations[operationName];
if (!run) {
  console.error(`unknown operation ${operationName}; one of: ${Object.keys(operations).join(', ')}`);
  await tollgate.mf.dispose();
  work.dispose();
  process.exit(2);
}
for (let i = 0; i < WARM_UP; i++) await run();

/** A DevTools protocol session with one isolate. */
async function inspect(target) {
  // Node 20's WebSocket client is behind --experimental-websocket (package.json passes it).
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  let nextId = 1;
  const pending = new Map();
  ws.addEventListener('message', (event) => {
    const { id, result } = JSON.parse(event.data);
    pending.get(id)?.(result);
    pending.delete(id);
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 100 }); // µs
  return { title: target.title, send, close: () => ws.close() };
}

// Tollgate's isolate (core:user) and local D1's (d1:db...): the two that share a request's CPU.
const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()).filter((t) => /core:user|d1:db/.test(t.title));
const sessions = await Promise.all(targets.map(inspect));
for (const session of sessions) await session.send('Profiler.start');
const end = Date.now() + SECONDS * 1000;
let count = 0;
while (Date.now() < end) {
  await run();
  count++;
}
const outDir = path.join(ROOT, 'bench', 'profiles');
mkdirSync(outDir, { recursive: true });
const profiles = [];
for (const session of sessions) {
  const { profile } = await session.send('Profiler.stop');
  const file = path.join(outDir, `${operationName}-${session.title.replace(/^.*worker /, '').replace(/[^a-z0-9]+/gi, '_')}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  profiles.push({ title: session.title, file, profile });
  session.close();
}
await tollgate.mf.dispose();
work.dispose();

/** Samples per function: self, and inclusive (the function or anything it called). */
function summarize(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const name = (node) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber + 1}`;
  const self = new Map();
  const inclusive = new Map();
  for (const id of profile.samples) {
    const key = name(nodes.get(id));
    self.set(key, (self.get(key) ?? 0) + 1);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = name(nodes.get(at));
      if (!seen.has(frame)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + 1);
      seen.add(frame);
    }
  }
  const top = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([key, n]) => `  ${((100 * n) / profile.samples.length).toFixed(1).padStart(5)}%  ${key}`)
      .join('\n');
  return { self: top(self), inclusive: top(new Map([...inclusive].filter(([key]) => !key.startsWith('(root)')))) };
}

console.log(`${operationName}: ${count} operations in ${SECONDS} s under the profiler`);
for (const { title, file, profile } of profiles) {
  const { self, inclusive } = summarize(profile);
  console.log(
    `\n${title.replace(/^workerd: worker /, 'isolate ')} (${profile.samples.length} samples) → ${path.relative(ROOT, file)}\nself:\n${self}\ninclusive:\n${inclusive}`,
  );
}
