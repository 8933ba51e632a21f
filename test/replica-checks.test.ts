import { describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import { app } from '../src/app';
import { REPLICA_MAX_STALENESS } from '../src/config';
import {
  basic,
  bearer,
  createUser,
  ISSUER,
  issueTokens,
  type RegisteredClient,
  registerClient,
  revokeAs,
  signedInBrowser,
  userToken,
} from './helpers';
import { laggingReplica, STALE, setReplicaClock } from './replica-support';

// Issue 16 item 2's rules for the checks a read replica answers (bearer reads,
// userinfo, introspection; services/replica.ts), against a stand-in replica
// that stops applying the primary's writes when frozen (local D1 has none).

type Env = ReturnType<typeof laggingReplica>['env'];

async function setup(scope = 'openid books:read offline_access') {
  const user = await createUser();
  const client = await registerClient(await userToken(user), { grant_types: ['authorization_code', 'refresh_token'] });
  const browser = await signedInBrowser(user);
  return { user, client, browser, tokens: await issueTokens(browser, client, { scope }) };
}

const books = (token: string, on: Env) => app.request(`${ISSUER}/api/books`, { headers: bearer(token) }, on);
const userinfo = (token: string, on: Env) => app.request(`${ISSUER}/oauth2/userinfo`, { headers: bearer(token) }, on);
async function introspect(client: RegisteredClient, token: string, on: Env) {
  const response = await app.request(
    `${ISSUER}/oauth2/introspect`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
      body: new URLSearchParams({ token }).toString(),
    },
    on,
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { active: boolean }).active;
}

describe('a replica that does not know a grant, token or client yet never causes a refusal', () => {
  it('a new token is re-checked at the primary: bearer read, userinfo and introspection accept it', async () => {
    await setReplicaClock();
    const replica = laggingReplica();
    await replica.freeze(); // it knows nothing written from now on
    const { client, tokens } = await setup();
    expect((await books(tokens.access_token, replica.env)).status).toBe(200);
    expect((await userinfo(tokens.access_token, replica.env)).status).toBe(200);
    expect(await introspect(client, tokens.access_token, replica.env)).toBe(true);
    expect(await introspect(client, tokens.refresh_token as string, replica.env)).toBe(true);
    // Each asked the replica first, then the primary.
    expect(replica.replicaBatches).toBe(4);
  });

  it('a miss costs one replica round trip and one primary round trip', async () => {
    await setReplicaClock();
    const replica = laggingReplica();
    await replica.freeze();
    const { tokens } = await setup();
    const counts = newCounts();
    expect((await books(tokens.access_token, countingBindings(replica.env, counts))).status).toBe(200);
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 1, replica: 1 });
  });

  it('a token known to a fresh replica costs that replica’s round trip alone', async () => {
    await setReplicaClock();
    const { tokens } = await setup();
    const replica = laggingReplica();
    const counts = newCounts();
    expect((await books(tokens.access_token, countingBindings(replica.env, counts))).status).toBe(200);
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 0, replica: 1 });
  });
});

describe('a revocation a replica has not applied is honoured within REPLICA_MAX_STALENESS', () => {
  /**
   * A token revoked at the primary after the replica froze with its grant
   * live, the replica's clock `age` seconds old when it froze.
   */
  async function revokedBehindReplica(age: number) {
    const { client, tokens } = await setup();
    const replica = laggingReplica();
    // The replica sees the token standing with its clock that old (set again
    // before each read: a read the primary makes sets it), then stops
    // applying writes.
    for (const read of [books, userinfo, (token: string, on: Env) => introspect(client, token, on)]) {
      await setReplicaClock(age);
      await read(tokens.access_token, replica.env);
    }
    await replica.freeze();
    await revokeAs(client, tokens.access_token);
    return { client, tokens, replica };
  }

  it('a replica whose clock is within the bound still answers as it saw it: the documented staleness', async () => {
    const { client, tokens, replica } = await revokedBehindReplica(REPLICA_MAX_STALENESS - 5);
    expect((await books(tokens.access_token, replica.env)).status).toBe(200);
    expect((await userinfo(tokens.access_token, replica.env)).status).toBe(200);
    expect(await introspect(client, tokens.access_token, replica.env)).toBe(true);
  });

  it('a replica whose clock is older than the bound is not used: the primary refuses the revoked token', async () => {
    const { client, tokens, replica } = await revokedBehindReplica(STALE);
    const refused = await books(tokens.access_token, replica.env);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token' });
    expect((await userinfo(tokens.access_token, replica.env)).status).toBe(401);
    expect(await introspect(client, tokens.access_token, replica.env)).toBe(false);
  });

  it('a replica that applied the revocation refuses at once (its no is confirmed at the primary)', async () => {
    await setReplicaClock();
    const { client, tokens } = await setup();
    await revokeAs(client, tokens.access_token);
    const replica = laggingReplica();
    const counts = newCounts();
    expect((await books(tokens.access_token, countingBindings(replica.env, counts))).status).toBe(401);
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 1, replica: 1 });
  });
});

describe('introspection’s client authentication at a replica', () => {
  it('a wrong secret is refused by the primary, not the replica alone', async () => {
    await setReplicaClock();
    const { client, tokens } = await setup();
    const replica = laggingReplica();
    const counts = newCounts();
    const response = await app.request(
      `${ISSUER}/oauth2/introspect`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, 'wrong-secret') },
        body: new URLSearchParams({ token: tokens.access_token }).toString(),
      },
      countingBindings(replica.env, counts),
    );
    expect(response.status).toBe(401);
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 1, replica: 1 });
  });
});
