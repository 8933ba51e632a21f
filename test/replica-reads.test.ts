import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import { REPLICA_CLOCK_REFRESH } from '../src/config';
import { createDeps, primaryWrite, replicaRead } from '../src/deps';
import { now } from '../src/lib/crypto';
import { readFromReplica } from '../src/services/replica';
import { clientQuery } from '../src/storage/clients';
import { createDb } from '../src/storage/db';
import { userByIdQuery } from '../src/storage/users';
import { createUser, registerClient, userToken } from './helpers';
import { FRESH, replicaClockAt, STALE, setReplicaClock } from './replica-support';

// The plumbing of D1 read replication (deps.ts, storage/db.ts,
// services/replica.ts): reads through a session answer what Drizzle's own
// batch answers, a session counts as a replica's round trip, a write session
// keeps its bookmark, and a replica's answer is used only when it is fresh
// enough and says yes.

describe('reads through a D1 session', () => {
  let userId: string;
  let clientId: string;

  beforeAll(async () => {
    const user = await createUser();
    userId = (await env.DB.prepare('select id from users where email = ?').bind(user.email).first<{ id: string }>())!.id;
    clientId = (await registerClient(await userToken(user))).client_id;
  });

  it('answer the rows Drizzle’s own batch answers, for a prepared query and a plain builder alike', async () => {
    const db = createDb(env.DB);
    const primary = await db.batch([clientQuery(db, clientId), userByIdQuery(db, userId)]);
    const replica = await replicaRead(createDeps(env)).batch([clientQuery(db, clientId), userByIdQuery(db, userId)]);
    expect(replica).toEqual(primary);
    expect(replica[0]?.[0]?.id).toBe(clientId);
    expect(replica[1]?.[0]?.id).toBe(userId);
  });

  it('are a replica’s round trips, and a write session’s are the primary’s, with a bookmark after its write', async () => {
    const counts = newCounts();
    const deps = createDeps(countingBindings(env, counts));
    await replicaRead(deps).batch([clientQuery(deps.db, clientId)]);
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 1, d1Replica: 1 });
    const write = primaryWrite(deps);
    expect(write.bookmark()).toBeNull();
    await write.db.run('update replica_clock set at = at where id = 1' as never);
    expect(write.bookmark()).toMatch(/^[0-9a-f-]+$/);
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 2, d1Replica: 1 });
    // A read session opened with that bookmark reads at least that fresh.
    await replicaRead(deps, write.bookmark()!).batch([clientQuery(deps.db, clientId)]);
    expect(counts.d1Replica).toBe(2);
  });
});

describe('readFromReplica', () => {
  const found = (rows: unknown[][]) => (rows[0]?.length ?? 0) > 0;

  it('uses a fresh replica’s yes: one replica round trip', async () => {
    await setReplicaClock(FRESH);
    const counts = newCounts();
    const deps = createDeps(countingBindings(env, counts));
    const [rows] = await readFromReplica(
      deps,
      (db) => [userByIdQuery(db, 'no-such-user')],
      () => true,
    );
    expect(rows).toEqual([]);
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 1, d1Replica: 1 });
  });

  it('reads a replica’s no again at the primary', async () => {
    await setReplicaClock(FRESH);
    const counts = newCounts();
    const deps = createDeps(countingBindings(env, counts));
    await readFromReplica(deps, (db) => [userByIdQuery(db, 'no-such-user')], found);
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 2, d1Replica: 1 });
  });

  it('reads at the primary when the replica’s clock is older than REPLICA_MAX_STALENESS, and that read sets the clock', async () => {
    await setReplicaClock(STALE);
    const counts = newCounts();
    const deps = createDeps(countingBindings(env, counts));
    await readFromReplica(
      deps,
      (db) => [userByIdQuery(db, 'no-such-user')],
      () => true,
    );
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 2, d1Replica: 1 });
    expect(now() - (await replicaClockAt())).toBeLessThanOrEqual(1);
    // The next read finds the replica fresh again.
    await readFromReplica(
      deps,
      (db) => [userByIdQuery(db, 'no-such-user')],
      () => true,
    );
    expect({ d1: counts.d1, d1Replica: counts.d1Replica }).toEqual({ d1: 3, d1Replica: 2 });
  });

  it('sets the clock only when it is older than REPLICA_CLOCK_REFRESH: a burst of primary reads writes it once', async () => {
    await setReplicaClock(REPLICA_CLOCK_REFRESH - 5);
    const before = await replicaClockAt();
    await readFromReplica(createDeps(env), (db) => [userByIdQuery(db, 'no-such-user')], found);
    expect(await replicaClockAt()).toBe(before);
  });
});
