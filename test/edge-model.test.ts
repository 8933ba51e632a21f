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
    // What the model adds is counted exactly (modelledMs); wall-clock time is
    // only bounded from below, since a timer never fires early but a loaded
    // machine may run anything late.
    const plainCounts = newCounts();
    const plain = countingBindings(env, plainCounts);
    await plain.DB.prepare('select 1').first();
    await plain.KV.get('edge-model');
    expect(plainCounts.modelledMs).toBe(0);

    const counts = newCounts();
    const modelled = countingBindings(env, counts, { primaryMs: 60, replicaMs: 7, kvReadColdMs: 25, kvReadHotMs: 2, kvWriteMs: 30 });
    const started = Date.now();
    await modelled.DB.prepare('select 1').first();
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(counts.modelledMs).toBe(60);
    await modelled.DB.withSession('first-unconstrained').prepare('select 1').first();
    expect(counts.modelledMs).toBe(60 + 7);
    await modelled.KV.put('edge-model', 'x');
    expect(counts.modelledMs).toBe(67 + 30);
    await modelled.KV.get('edge-model');
    expect(counts.modelledMs).toBe(97 + 25);
    // A key this location read before is in its cache: the hot price.
    await modelled.KV.get('edge-model');
    expect(counts.modelledMs).toBe(122 + 2);
  });
});
