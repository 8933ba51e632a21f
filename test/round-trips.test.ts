import { env } from 'cloudflare:test';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BindingCounts, countingBindings, newCounts } from '../bench/counting-bindings';
import { app } from '../src/app';
import { KEY_CACHE_TTL } from '../src/config';
import { getKeySet } from '../src/services/keys';
import { createDb } from '../src/storage/db';
import {
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  codeFields,
  createUser,
  ISSUER,
  issueTokens,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';
import { ASSERTION_TYPE, assertion, type ClientKey, clientKey, postWithAssertion, registerKeyClient } from './private-key-jwt-support';
import { setReplicaClock } from './replica-support';

// Storage round trips are what an operation costs on Workers (issue 6's
// budget): counted here exactly, so a regression fails CI. Timing is the
// benchmark's job (npm run bench), not a test's.

/** The Worker's bindings, with D1 round trips and KV calls counted (bench/counting-bindings.ts) and each round trip's SQL kept. */
function countingEnv(): { env: typeof env; counts: BindingCounts } {
  const counts = newCounts({ keepSql: true });
  return { env: countingBindings(env, counts), counts };
}

/**
 * What an operation cost, split as issue 16 asks: D1 round trips to the
 * primary and to a read replica (reads in a withSession session that allows
 * one), and KV reads and writes.
 */
function cost(counts: BindingCounts) {
  return { primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica, kvGet: counts.kvGet, kvPut: counts.kvPut };
}

/** A browser app (a public client) served from `origin`, and tokens a user of it was issued. */
async function browserApp(origin: string, tokenOptions: Parameters<typeof issueTokens>[2]) {
  const spa = await registerClient(await userToken(await createUser()), {
    redirect_uris: [`${origin}/cb`],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const tokens = await issueTokens(await signedInBrowser(await createUser()), spa, tokenOptions);
  return { spa, tokens };
}

describe('storage round trips per operation', () => {
  let browser: Browser;
  let client: RegisteredClient;
  let tokens: { access_token: string; refresh_token?: string };

  beforeAll(async () => {
    const user = await createUser();
    client = await registerClient(await userToken(user), { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
    browser = await signedInBrowser(user);
    tokens = (await issueTokens(browser, client, { scope: 'openid books:read offline_access' })) as typeof tokens;
    await getKeySet({ db: createDb(env.DB), env: env }); // keys cached, as in a warm isolate
  });

  // A read replica answers when its replica clock is fresh
  // (services/replica.ts); a stale one adds a primary round trip, which
  // test/replica-checks.test.ts counts.
  it('a bearer call is one D1 round trip, with the books read and the grant check, which a fresh read replica answers', async () => {
    await setReplicaClock();
    const { env: counted, counts } = countingEnv();
    const response = await app.request(`${ISSUER}/api/books`, { headers: bearer(tokens.access_token) }, counted);
    expect(response.status).toBe(200);
    expect(cost(counts)).toEqual({ primary: 0, replica: 1, kvGet: 0, kvPut: 0 });
  });

  it('a client_credentials grant is one: the client authentication (its secret is only in D1; nothing is written)', async () => {
    const { env: counted, counts } = countingEnv();
    const response = await app.request(
      `${ISSUER}/oauth2/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body: 'grant_type=client_credentials&scope=books:read',
      },
      counted,
    );
    expect(response.status).toBe(200);
    expect(cost(counts)).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
  });

  it('a refresh is one: the client authentication joins the rotation’s batch', async () => {
    const { env: counted, counts } = countingEnv();
    const response = await app.request(
      `${ISSUER}/oauth2/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
      },
      counted,
    );
    expect(response.status).toBe(200);
    tokens = (await response.json()) as typeof tokens;
    expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    expect(counts.sql).toEqual(['batch(5)']);
  });

  it('a browser app’s refresh from its own origin is one too: the CORS answer comes from the client row already read, not from D1', async () => {
    const spaOrigin = 'https://spa-round-trips.example';
    const { spa, tokens: spaTokens } = await browserApp(spaOrigin, { scope: 'openid books:read offline_access' });
    const refreshFrom = async (origin: string) => {
      const { env: counted, counts } = countingEnv();
      const response = await app.request(
        `${ISSUER}/oauth2/token`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: spaTokens.refresh_token as string,
            client_id: spa.client_id,
          }).toString(),
        },
        counted,
      );
      expect(response.status).toBe(200);
      spaTokens.refresh_token = ((await response.json()) as { refresh_token: string }).refresh_token;
      return { response, cost: cost(counts), sql: counts.sql };
    };
    const own = await refreshFrom(spaOrigin);
    expect(own.response.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    expect(own.cost, own.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    // Another origin is not named, and costs nothing more either.
    const other = await refreshFrom('https://elsewhere.example');
    expect(other.response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    expect(other.cost).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
  });

  it('a userinfo call is one, with the grant check, at a replica', async () => {
    await setReplicaClock();
    const { env: counted, counts } = countingEnv();
    const response = await app.request(`${ISSUER}/oauth2/userinfo`, { headers: bearer(tokens.access_token) }, counted);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: expect.any(String) });
    expect(cost(counts)).toEqual({ primary: 0, replica: 1, kvGet: 0, kvPut: 0 });
  });

  it('a userinfo call from a browser app’s own origin is one too, at a replica: the CORS check rides in the grant check’s batch', async () => {
    const spaOrigin = 'https://spa-userinfo-round-trips.example';
    const { tokens: spaTokens } = await browserApp(spaOrigin, { scope: 'openid' });
    await setReplicaClock();
    for (const [origin, allowed] of [
      [spaOrigin, spaOrigin],
      ['https://elsewhere.example', null],
    ] as const) {
      const { env: counted, counts } = countingEnv();
      const response = await app.request(
        `${ISSUER}/oauth2/userinfo`,
        { headers: { ...bearer(spaTokens.access_token), Origin: origin } },
        counted,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('Access-Control-Allow-Origin')).toBe(allowed);
      expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 0, replica: 1, kvGet: 0, kvPut: 0 });
    }
  });

  it('an introspection is one, of an access token and of a refresh token, with the client check, at a replica', async () => {
    await setReplicaClock();
    for (const [token, type] of [
      [tokens.access_token, 'Bearer'],
      [tokens.refresh_token!, 'refresh_token'],
    ] as const) {
      const { env: counted, counts } = countingEnv();
      const response = await app.request(
        `${ISSUER}/oauth2/introspect`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
          body: new URLSearchParams({ token }).toString(),
        },
        counted,
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ active: true, token_type: type, sub: expect.any(String) });
      expect(cost(counts)).toEqual({ primary: 0, replica: 1, kvGet: 0, kvPut: 0 });
    }
  });

  it('a whole code flow with a session and remembered consent is two at the primary and one at a replica, and no KV call: the authorization endpoint’s lookups at a replica, the approval and the redemption at the primary', async () => {
    await setReplicaClock();
    const { env: counted, counts } = countingEnv();
    const { verifier, challenge } = await pkce();
    const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const authorized = await app.request(
      `${ISSUER}${authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'openid books:read offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}`,
      { headers: { Cookie: cookie } },
      counted,
    );
    expect(authorized.status).toBe(302);
    expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 1, replica: 1, kvGet: 0, kvPut: 0 });
    const code = new URL(authorized.headers.get('Location')!).searchParams.get('code')!;
    const token = await app.request(
      `${ISSUER}/oauth2/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: client.redirect_uris[0]!,
          code_verifier: verifier,
        }).toString(),
      },
      counted,
    );
    expect(token.status).toBe(200);
    expect(counts.sql).toHaveLength(counts.d1);
    // The redemption: client, code as it was, consume, grant's last use, first refresh token.
    expect(counts.sql?.at(-1)).toBe('batch(5)');
    expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 2, replica: 1, kvGet: 0, kvPut: 0 });
  });
  it('a device poll is one: the poll authenticates the client, reads, redeems and records itself in one batch', async () => {
    const user = await createUser();
    const device = await registerClient(await userToken(user), {
      redirect_uris: undefined,
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    });
    const started = (await (
      await app.request(
        `${ISSUER}/oauth2/device_authorization`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: device.client_id, scope: 'openid offline_access books:read' }).toString(),
        },
        env,
      )
    ).json()) as { device_code: string; user_code: string };
    const pollOnce = async () => {
      const { env: counted, counts } = countingEnv();
      const response = await app.request(
        `${ISSUER}/oauth2/token`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            client_id: device.client_id,
            grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
            device_code: started.device_code,
          }).toString(),
        },
        counted,
      );
      // The client's row is the batch's first statement (issue 13's acceptance: one D1 round trip per poll).
      expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
      expect(counts.sql).toEqual(['batch(6)']);
      return response;
    };
    expect((await pollOnce()).status).toBe(400); // authorization_pending
    const signedIn = await signedInBrowser(user);
    const consent = await signedIn.submit('/device', { user_code: started.user_code });
    const html = await consent.text();
    const fields = Object.fromEntries(
      [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    expect((await signedIn.post('/device/answer', { ...fields, decision: 'allow' })).status).toBe(200);
    // Pending or approved, the poll costs the same: the approved one redeems and mints in that batch.
    await createDb(env.DB).run(sql`update device_authorizations set last_polled_at = null`);
    expect((await pollOnce()).status).toBe(200);
  });
});

describe('storage round trips of the JWKS', () => {
  it('a JWKS request a PoP copy answers is none, even in an isolate whose keys are stale (routes/well-known.ts)', async () => {
    await app.request(`${ISSUER}/.well-known/jwks.json`, {}, env); // the copy is kept
    (await getKeySet({ db: createDb(env.DB), env: env })).loadedAt -= KEY_CACHE_TTL; // as in a cold isolate
    const { env: counted, counts } = countingEnv();
    const response = await app.request(`${ISSUER}/.well-known/jwks.json`, {}, counted);
    expect(response.status).toBe(200);
    expect(counts).toMatchObject({ d1: 0, kvGet: 0, kvPut: 0 });
  });
});

describe('storage round trips at /mcp', () => {
  let mcpToken: string;

  beforeAll(async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    mcpToken = (await issueTokens(browser, client, { scope: 'books:read books:write', resource: [`${ISSUER}/mcp`] })).access_token;
    await getKeySet({ db: createDb(env.DB), env: env }); // keys cached, as in a warm isolate
  });

  /** One JSON-RPC message to /mcp over counted bindings: its answer and the round trips it cost. */
  async function mcpMessage(method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = bearer(mcpToken)) {
    const { env: counted, counts } = countingEnv();
    const response = await app.request(
      `${ISSUER}/mcp`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      },
      counted,
    );
    expect(response.status).toBe(200);
    return { body: (await response.json()) as { result?: { isError?: boolean } }, counts, response };
  }

  it('the token check is one D1 round trip: initialize and tools/list cost nothing more', async () => {
    const initialize = await mcpMessage('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'round-trips', version: '1' },
    });
    expect(cost(initialize.counts)).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    expect(cost((await mcpMessage('tools/list')).counts)).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
  });

  it('from a browser MCP client’s own origin, the CORS check rides in the token check’s batch: still one', async () => {
    const origin = 'https://mcp-in-a-browser.example';
    const { tokens: browserTokens } = await browserApp(origin, { scope: 'books:read', resource: [`${ISSUER}/mcp`] });
    for (const [from, allowed] of [
      [origin, origin],
      ['https://elsewhere.example', null],
    ] as const) {
      const listed = await mcpMessage('tools/list', {}, { ...bearer(browserTokens.access_token), Origin: from });
      expect(listed.response.headers.get('Access-Control-Allow-Origin')).toBe(allowed);
      expect(cost(listed.counts), listed.counts.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    }
  });

  it('a tool call is the token check and the tool’s own statement: two', async () => {
    const added = await mcpMessage('tools/call', { name: 'add_book', arguments: { title: 'Counted', author: 'A' } });
    expect(added.body.result?.isError).toBeFalsy();
    expect(cost(added.counts)).toEqual({ primary: 2, replica: 0, kvGet: 0, kvPut: 0 });
    const listed = await mcpMessage('tools/call', { name: 'list_books', arguments: {} });
    expect(listed.body.result?.isError).toBeFalsy();
    expect(cost(listed.counts)).toEqual({ primary: 2, replica: 0, kvGet: 0, kvPut: 0 });
  });
});

describe('storage round trips of a passkey sign-in', () => {
  it('beginning one is one D1 round trip and no KV call, discoverable or username-first, for a known email or not (the credentials read and the challenge written in one batch)', async () => {
    const user = await createUser();
    const csrf = 'c'.repeat(43); // double submit: the same value in the cookie and the form
    for (const email of [undefined, user.email, 'nobody-at-all@example.com']) {
      const { env: counted, counts } = countingEnv();
      const response = await app.request(
        '/login/passkey/options',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `tg_csrf=${csrf}` },
          body: new URLSearchParams({ csrf_token: csrf, ...(email ? { email } : {}) }).toString(),
        },
        counted,
      );
      expect(response.status, email).toBe(200);
      expect(cost(counts), email).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    }
  });
});

describe('storage round trips of private_key_jwt (RFC 7523) at the token endpoint', () => {
  // The client's keys are in its row, so the assertion is verified after one
  // read and before the grant: one round trip more than a secret's. Its jti
  // is spent in the grant's own batch (a refresh: two in all), or alone where
  // the grant has none (client_credentials: two). Keys from a jwks_uri add a
  // fetch and a write only when the cached copy is stale.
  let key: ClientKey;
  let client: RegisteredClient;
  let refreshToken: string;

  beforeAll(async () => {
    const user = await createUser();
    key = await clientKey('ES256');
    client = await registerKeyClient(await userToken(user), [key]);
    const tokens = await (async () => {
      const browser = await signedInBrowser(user);
      const authorization = await authorizeWithConsent(browser, client, { scope: 'openid offline_access' });
      const response = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), codeFields(authorization));
      return (await response.json()) as { refresh_token: string };
    })();
    refreshToken = tokens.refresh_token;
    await getKeySet({ db: createDb(env.DB), env: env });
  });

  async function tokenRequest(fields: Record<string, string>) {
    const { env: counted, counts } = countingEnv();
    const body = new URLSearchParams({
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion(key, client.client_id),
      ...fields,
    });
    const response = await app.request(
      `${ISSUER}/oauth2/token`,
      { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body.toString() },
      counted,
    );
    return { response, counts };
  }

  it('a refresh is two: the client read, then the rotation’s batch with the assertion’s insert', async () => {
    const { response, counts } = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 2, replica: 0, kvGet: 0, kvPut: 0 });
    expect(counts.sql?.[1]).toBe('batch(6)');
  });

  it('a client_credentials grant is two: the client read, then the assertion’s insert', async () => {
    const { response, counts } = await tokenRequest({ grant_type: 'client_credentials', scope: 'books:read' });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(cost(counts), counts.sql?.join('\n')).toEqual({ primary: 2, replica: 0, kvGet: 0, kvPut: 0 });
  });
});

describe('DPoP round trips (RFC 9449): the proof’s single use joins the request’s one batch, at the primary', () => {
  it('a DPoP bearer call is one primary round trip (proof row, grant check and read), and a DPoP refresh one', async () => {
    const { dpopKey, dpopTokenRequest, proof, serverNonce } = await import('./dpop-support');
    const user = await createUser();
    const spa = await registerClient(await userToken(user), {
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const authorization = await authorizeWithConsent(await signedInBrowser(user), spa, { scope: 'openid offline_access books:read' });
    const key = await dpopKey();
    const issued = (await (await dpopTokenRequest(spa, key, codeFields(authorization))).json()) as {
      access_token: string;
      refresh_token: string;
    };

    const call = countingEnv();
    const books = await app.request(
      `${ISSUER}/api/books`,
      {
        headers: {
          Authorization: `DPoP ${issued.access_token}`,
          DPoP: await proof(key, { htm: 'GET', htu: '/api/books', accessToken: issued.access_token }),
        },
      },
      call.env,
    );
    expect(books.status).toBe(200);
    // The proof's row is a write, so the call goes to the primary (Bearer calls stay at a replica).
    expect(cost(call.counts), call.counts.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });

    const refresh = countingEnv();
    const nonce = await serverNonce();
    const refreshed = await app.request(
      `${ISSUER}/oauth2/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await proof(key, { nonce }) },
        body: new URLSearchParams({
          client_id: spa.client_id,
          grant_type: 'refresh_token',
          refresh_token: issued.refresh_token,
        }).toString(),
      },
      refresh.env,
    );
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    expect(cost(refresh.counts), refresh.counts.sql?.join('\n')).toEqual({ primary: 1, replica: 0, kvGet: 0, kvPut: 0 });
    expect(refresh.counts.sql).toEqual(['batch(6)']);
  });
});
