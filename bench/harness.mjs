// The parts `npm run bench` (run.mjs) and `npm run bench:profile`
// (profile.mjs) share: bundling with wrangler, running Workers with the
// Miniflare API on workerd's own socket with fresh file-backed local D1 and
// KV, Tollgate behind counting bindings (bench/worker.ts), and a Tollgate
// with a user, a client, a browser session and remembered consent.
// Everything listens on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import { freePort, importTypeScript, ROOT, WRANGLER_ENV } from '../scripts/local.mjs';

export const COMPATIBILITY_DATE = '2026-04-26';

/** A scratch folder for bundles and local state; `dispose()` removes it. */
export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-'));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- workers

/** Bundles a Worker with wrangler (no upload); returns the bundle's source. */
export function bundle(entry, outdir) {
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir, ...entry],
    {
      cwd: ROOT,
      env: WRANGLER_ENV,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  // wrangler names the bundle after its entry (worker.js, hello-world.js).
  const output = readdirSync(outdir).find((file) => file.endsWith('.js'));
  return readFileSync(path.join(outdir, output), 'utf8');
}

/** The hello-world Hono Worker (bench/hello-world.ts), the runtime's ceiling. */
export function bundleHelloWorld(work) {
  return bundle([path.join(ROOT, 'bench', 'hello-world.ts'), '--name', 'hello-world'], path.join(work, 'hello-build'));
}

/** Runs ES modules as a Worker on a free 127.0.0.1 port. */
export async function startWorker(work, name, modules, extra = {}) {
  const port = extra.port ?? (await freePort());
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

/**
 * The bench's Worker (bench/worker.ts: Tollgate behind counting bindings, and
 * the floor's parts), on fresh D1 and KV, with Tollgate's rate limits out of
 * the way, and its fixture set up; `edgeModel` (an `EdgeLatency`) makes its
 * storage calls wait as from a PoP.
 */
export async function startTollgate(work, { inspectorPort, edgeModel } = {}) {
  const workerBundle = bundle([path.join(ROOT, 'bench', 'worker.ts'), '--name', 'tollgate-bench'], path.join(work, 'build'));
  const limits = Object.fromEntries(
    ['SIGN_IN_LIMITER', 'SIGN_IN_IP_LIMITER', 'CLIENT_AUTH_LIMITER', 'REGISTRATION_LIMITER', 'SIGNUP_IP_LIMITER'].map((name) => [
      name,
      { simple: { limit: 1_000_000_000, period: 60 } },
    ]),
  );
  const port = await freePort(); // known before start: it is the issuer
  const url = `http://127.0.0.1:${port}`;
  const { mf } = await startWorker(work, 'tollgate', [['worker.mjs', workerBundle]], {
    port,
    ...(inspectorPort ? { inspectorPort } : {}),
    // The edge latency model (bench/edge.mjs), read by bench/worker.ts.
    bindings: { ISSUER: url, ...(edgeModel ? { EDGE_MODEL: JSON.stringify(edgeModel) } : {}) },
    d1Databases: { DB: 'tollgate' },
    kvNamespaces: { KV: 'tollgate' },
    d1Persist: path.join(work, 'tollgate-d1'),
    kvPersist: path.join(work, 'tollgate-kv'),
    ratelimits: limits,
  });
  const fixture = await tollgateFixture(url, mf);
  const form = (body) => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: fixture.basic },
    body,
  });
  const bearer = { headers: { Authorization: `Bearer ${fixture.tokens.access_token}` } };
  return { mf, url, fixture, form, bearer };
}

// ---------------------------------------------------------------- Tollgate set-up

export async function tollgateFixture(url, mf) {
  const db = await mf.getD1Database('DB');
  const { pkcePair } = await importTypeScript('bench/fixture.ts');
  const migrations = readdirSync(path.join(ROOT, 'migrations'))
    .filter((f) => f.endsWith('.sql'))
    .sort();
  for (const file of migrations) {
    const sql = readFileSync(path.join(ROOT, 'migrations', file), 'utf8');
    for (const statement of sql
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter(Boolean)) {
      await db.prepare(statement).run();
    }
  }
  const json = async (p, body, headers = {}) => {
    const response = await fetch(url + p, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${p}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const user = { email: 'bench@example.com', password: 'bench password 1', name: 'Bench' };
  const { id: userId } = await json('/api/users', user);
  const { access_token: userToken } = await json('/api/login', user);
  const client = await json(
    '/oauth2/register',
    {
      client_name: 'Bench',
      redirect_uris: ['https://bench.example/cb'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    },
    { Authorization: `Bearer ${userToken}` },
  );
  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;

  // A browser session through the real login form.
  const loginPage = await fetch(`${url}/login`);
  const csrfCookie = loginPage.headers
    .getSetCookie()
    .find((c) => c.startsWith('tg_csrf='))
    .split(';')[0];
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(await loginPage.text())[1];
  const login = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: csrfCookie },
    body: new URLSearchParams({ csrf_token: csrf, ...user }),
  });
  const session = login.headers
    .getSetCookie()
    .find((c) => c.startsWith('tg_session='))
    .split(';')[0];
  const cookie = `${csrfCookie}; ${session}`;

  const { verifier, challenge } = await pkcePair();
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
      const authorized = await request(url + authorizePath, { headers: { Cookie: cookie } });
      code = new URL(authorized.headers.location).searchParams.get('code');
    }
    const response = await request(`${url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: 'https://bench.example/cb',
        code_verifier: verifier,
      }).toString(),
    });
    if (response.status !== 200) throw new Error(`code flow: ${response.status} ${response.body}`);
    return JSON.parse(response.body);
  };
  const tokens = await codeFlow(firstCode);

  // A pool of refresh tokens, each used once, minted straight into D1 (only their hashes).
  return {
    client,
    basic,
    tokens,
    userId,
    codeFlow,
    // In the Worker (bench/worker.ts `mint`), not through Miniflare's D1 proxy.
    mintRefreshTokens: async (count) => {
      const response = await fetch(`${url}/__bench/mint`, {
        method: 'POST',
        body: JSON.stringify({ clientId: client.client_id, scope, count }),
      });
      if (!response.ok) throw new Error(`minting refresh tokens: ${response.status} ${await response.text()}`);
      return response.json();
    },
  };
}

// ---------------------------------------------------------------- DPoP

/**
 * DPoP (RFC 9449) as a client does it, for the load: one ES256 key pair made
 * once, and a fresh proof (§4.2) for every request: a new `jti`, `htm` and
 * `htu` of the call, `ath` of the access token at the books API, and at the
 * token endpoint the nonce the server hands out (§8; required there by
 * default). autocannon's setupRequest is synchronous and signing takes a
 * fraction of a millisecond of the load generator's CPU, so proofs are made
 * in a pool right before each load, never during it; a proof's `iat` stays
 * within the server's 5 minutes and the nonce within its slot.
 */
export async function dpopClient(url, fixture) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

  /** One proof for `htm` `htu` (a path on the issuer), with `ath` of `accessToken` and `nonce` when given. */
  const proof = ({ htm, htu, accessToken, nonce }) =>
    new SignJWT({
      htm,
      htu: url + htu,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      ...(nonce ? { nonce } : {}),
      ...(accessToken ? { ath: b64url(createHash('sha256').update(accessToken).digest()) } : {}),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .sign(privateKey);

  /** The server's current nonce, as a client learns it: from a use_dpop_nonce answer's `DPoP-Nonce` (§8). */
  const nonce = async () => {
    const response = await fetch(`${url}/oauth2/token`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: fixture.basic,
        DPoP: await proof({ htm: 'POST', htu: '/oauth2/token' }),
      },
      body: 'grant_type=client_credentials',
    });
    const value = response.headers.get('DPoP-Nonce');
    if (!value) throw new Error(`no DPoP-Nonce: ${response.status} ${await response.text()}`);
    return value;
  };

  /** A proof for a token request: POST /oauth2/token with the server's nonce. */
  const tokenProof = async () => proof({ htm: 'POST', htu: '/oauth2/token', nonce: await nonce() });

  /** `count` proofs for the same call, each with its own jti (the nonce fetched once). */
  const proofs = async (count, { htm, htu, accessToken, withNonce = false }) => {
    const value = withNonce ? await nonce() : undefined;
    return Promise.all(Array.from({ length: count }, () => proof({ htm, htu, accessToken, nonce: value })));
  };

  /** A DPoP refresh: a token response whose access token is bound to this key (cnf.jkt). */
  const refresh = async (refreshToken) => {
    const response = await fetch(`${url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: fixture.basic, DPoP: await tokenProof() },
      body: `grant_type=refresh_token&refresh_token=${refreshToken}`,
    });
    const body = await response.json();
    if (response.status !== 200 || body.token_type !== 'DPoP') throw new Error(`DPoP refresh: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  return { proof, tokenProof, proofs, refresh };
}

/**
 * autocannon options whose requests each take the next of `items` (a proof,
 * or a proof and a refresh token); `request(item)` gives the request's method,
 * headers and body. Pools are sized well over what the machine serves; if
 * one runs dry anyway the load is stopped (`attach` the autocannon instance)
 * rather than send a used proof, the last moments go to the no-op route, and
 * `exhausted()` says so.
 */
export function poolRequests(items, request) {
  let instance;
  let dry = false;
  return {
    requests: [
      {
        setupRequest: (base) => {
          const item = items.pop();
          if (item !== undefined) return { ...base, ...request(item) };
          if (!dry) instance?.stop();
          dry = true;
          return { ...base, method: 'GET', path: '/__bench/noop', headers: {}, body: undefined };
        },
      },
    ],
    attach: (tracker) => {
      instance = tracker;
    },
    exhausted: () => dry,
  };
}

// The code-flow loops' HTTP client. Node's fetch costs a few milliseconds of
// client CPU per request on this machine, more than Tollgate's own work, and
// the flows are compared with a floor measured with autocannon's lean
// client; node:http on kept-alive sockets is as lean.
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** One HTTP request (no redirects followed); resolves with status, headers and body text. */
export function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Storage calls per operation: the mean over `times` runs, one at a time. */
export async function countCalls(url, operation, times = 20) {
  // Requests a load left in flight must not be counted: let them finish first.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await fetch(`${url}/__bench/reset`);
  for (let i = 0; i < times; i++) await operation();
  const counts = await (await fetch(`${url}/__bench/counts`)).json();
  return {
    d1: counts.d1 / times,
    d1Replica: counts.d1Replica / times,
    statements: counts.statements / times,
    kvGet: counts.kvGet / times,
    kvPut: counts.kvPut / times,
  };
}

export async function flowLoops(codeFlow, loops, durationS) {
  const end = Date.now() + durationS * 1000;
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
  return {
    rps: flows / durationS,
    p50: pick(0.5),
    p99: pick(0.99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    errors: 0,
  };
}
