// The bench's Worker (bundled by wrangler, run by bench/harness.mjs):
// Tollgate behind counting bindings (bench/counting-bindings.ts), and beside
// it, in the same workerd and on the same D1 database and KV namespace, the
// floor's parts, so they are priced right next to each operation (local D1's
// price drifts by tens of percent within a run): a no-op, the hello-world
// Hono Worker, one D1 round trip of one statement and of four, one KV get and
// one KV put. None touches Tollgate's data or is counted but `mint`, which
// puts the fixture's refresh tokens straight into D1 (bench/fixture.ts). Given an EDGE_MODEL
// binding (an `EdgeLatency` as JSON, from `npm run bench -- --edge`),
// Tollgate's storage calls wait as they would from a PoP; the floor's never do.
import type { Bindings } from '../src/bindings';
import tollgate from '../src/index';
import { countingBindings, type EdgeLatency, newCounts, resetCounts } from './counting-bindings';
import { mintRefreshTokens } from './fixture';
import hello from './hello-world';

const counts = newCounts();

// One counting wrapper per bindings object, made once, as the bindings
// themselves are: Tollgate keeps one Drizzle instance per D1 binding.
const counted = new WeakMap<Bindings, Bindings>();
function countedBindings(env: Bindings): Bindings {
  let bindings = counted.get(env);
  if (!bindings) {
    bindings = countingBindings(env, counts, edgeModel(env));
    counted.set(env, bindings);
  }
  return bindings;
}

/** The edge latency model the harness passed in, if any (none: no waits). */
function edgeModel(env: Bindings): EdgeLatency {
  const model = (env as Bindings & { EDGE_MODEL?: string }).EDGE_MODEL;
  return model ? (JSON.parse(model) as EdgeLatency) : {};
}

type BenchRoute = (request: Request, env: Bindings, ctx: ExecutionContext) => Promise<Response> | Response;

/** The floor's parts and the counts, under /__bench/. */
const benchRoutes = new Map<string, BenchRoute>([
  ['noop', () => new Response('noop')],
  ['hello', (request, env, ctx) => hello.fetch(new Request(new URL('/', request.url), request), env, ctx)],
  [
    'd1',
    async (_request, env) => {
      await env.DB.batch([env.DB.prepare('select 1')]);
      return new Response('d1');
    },
  ],
  [
    'd1x4',
    async (_request, env) => {
      await env.DB.batch([1, 2, 3, 4].map((n) => env.DB.prepare('select ?').bind(n)));
      return new Response('d1x4');
    },
  ],
  [
    'kv-get',
    async (_request, env) => {
      await env.KV.get('__bench');
      return new Response('kv-get');
    },
  ],
  [
    'kv-put',
    async (_request, env) => {
      await env.KV.put('__bench', 'x', { expirationTtl: 60 });
      return new Response('kv-put');
    },
  ],
  [
    // Minted here, in the Worker, not through Miniflare's D1 proxy from Node:
    // the proxy makes one synchronous call per statement, and thousands of
    // them on a busy machine met a race in it (an AssertionError in
    // Miniflare's SynchronousFetcher) that ended the run.
    'mint',
    async (request, env) => {
      const { clientId, scope, count } = (await request.json()) as { clientId: string; scope: string; count: number };
      return Response.json(await mintRefreshTokens(env.DB, clientId, scope, count));
    },
  ],
  ['counts', () => Response.json(counts)],
  [
    'reset',
    () => {
      resetCounts(counts);
      return new Response('ok');
    },
  ],
]);

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    const benchRoute = pathname.startsWith('/__bench/') ? benchRoutes.get(pathname.slice('/__bench/'.length)) : undefined;
    if (benchRoute) return benchRoute(request, env, ctx);
    return tollgate.fetch(request, countedBindings(env), ctx);
  },
} satisfies ExportedHandler<Bindings>;
