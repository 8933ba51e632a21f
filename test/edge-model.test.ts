import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';

// The bench's edge latency model (`npm run bench -- --edge`): which round
// trips it counts as a replica's, and what it waits. The waits here are
// small; the bench's are tens of milliseconds.

describe('the edge latency model in the counting bindings', () => {
  it('counts a read in a session that allows a replica as a replica round trip, and everything else as the primary', async () => {
    const counts = newCounts();
    const { DB } = countingBindings(env, counts);
    await DB.prepare('select 1').first();
    await DB.withSession('first-primary').prepare('select 1').first();
    const session = DB.withSession('first-unconstrained');
    await session.prepare('select 1').first();
    await session.batch([session.prepare('select 1'), session.prepare('select 2')]);
    await session.prepare('create table if not exists edge_model_probe (id integer)').run();
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 5, d1Replica: 2 });
  });

  it('waits nothing without a model, and the modelled time with one', async () => {
    const elapsed = async (call: () => Promise<unknown>) => {
      const started = Date.now();
      await call();
      return Date.now() - started;
    };
    const plain = countingBindings(env, newCounts());
    const modelled = countingBindings(env, newCounts(), { primaryMs: 60, kvReadColdMs: 60, kvReadHotMs: 0, kvWriteMs: 60 });
    expect(await elapsed(() => plain.DB.prepare('select 1').first())).toBeLessThan(50);
    expect(await elapsed(() => modelled.DB.prepare('select 1').first())).toBeGreaterThanOrEqual(55);
    expect(await elapsed(() => modelled.KV.put('edge-model', 'x'))).toBeGreaterThanOrEqual(55);
    expect(await elapsed(() => modelled.KV.get('edge-model'))).toBeGreaterThanOrEqual(55);
    // A key this location read before is in its cache: the hot price.
    expect(await elapsed(() => modelled.KV.get('edge-model'))).toBeLessThan(50);
  });
});
