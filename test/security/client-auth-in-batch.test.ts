import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../../bench/counting-bindings';
import { app } from '../../src/app';
import { answerOnPages, deviceRow, poll, registerDeviceClient } from '../device-support';
import {
  authorizeWithConsent,
  type Browser,
  basic,
  codeFields,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  type RegisteredClient,
  redeem,
  refreshAs,
  registerClient,
  signedInBrowser,
  storedHash,
  type TestUser,
  unique,
  userToken,
} from '../helpers';

// Issue 16 item 3: the token endpoint authenticates the client inside the
// grant's own D1 batch (services/client-authentication.ts), so a refresh, a
// code redemption and a device poll are one D1 round trip each. Every write
// of that batch is guarded in SQL by the client's authentication: a request
// whose client fails must spend nothing. Each test below presents a valid
// grant with a failing client, checks D1 is untouched, then shows the right
// client still gets its tokens.

let user: TestUser;
let ownerToken: string;
let browser: Browser;

beforeAll(async () => {
  user = await createUser();
  ownerToken = await userToken(user);
  browser = await signedInBrowser(user);
});

/** The client with another secret: what an attacker holding a stolen code or token presents. */
function withWrongSecret(client: RegisteredClient): RegisteredClient {
  return { ...client, client_secret: `${client.client_secret}-wrong` };
}

async function codeRow(code: string) {
  return env.DB.prepare('select redeemed_at, redemption from codes where hash = ?')
    .bind(await storedHash(code))
    .first<{ redeemed_at: number | null; redemption: string | null }>();
}

async function refreshRow(token: string) {
  return env.DB.prepare('select used_at, replaced_by from refresh_tokens where hash = ?')
    .bind(await storedHash(token))
    .first<{ used_at: number | null; replaced_by: string | null }>();
}

/** An invalid_client answer as RFC 6749 §5.2 asks for a client that tried Basic: 401 with WWW-Authenticate. */
async function expectInvalidClient(response: Response) {
  expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic /);
  await expectJsonError(response, 401, 'invalid_client');
}

describe('a code redemption whose client fails to authenticate spends nothing', () => {
  it('a wrong secret with a valid code: invalid_client, the code unredeemed; the right secret then redeems it', async () => {
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' });
    await expectInvalidClient(await redeem(withWrongSecret(client), authorization));
    expect(await codeRow(authorization.code)).toEqual({ redeemed_at: null, redemption: null });
    const grants = await env.DB.prepare('select count(*) as n from grants where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(grants?.n).toBe(1);
    const response = await redeem(client, authorization);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
  });

  it('another client’s id, or an unknown one, presenting the code: invalid_client, and the code survives', async () => {
    const client = await registerClient(ownerToken);
    const other = await registerClient(ownerToken);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await expectInvalidClient(await redeem({ ...other, client_secret: client.client_secret! }, authorization));
    await expectInvalidClient(await redeem({ ...client, client_id: unique('no-such-client') }, authorization));
    expect((await codeRow(authorization.code))?.redeemed_at).toBeNull();
    expect((await redeem(client, authorization)).status).toBe(200);
  });

  it('a client no longer registered for authorization_code: unauthorized_client, and the code survives', async () => {
    const client = await registerClient(ownerToken);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const registered = await env.DB.prepare('select grant_types from clients where id = ?')
      .bind(client.client_id)
      .first<{ grant_types: string }>();
    await env.DB.prepare(`update clients set grant_types = '["refresh_token"]' where id = ?`).bind(client.client_id).run();
    await expectJsonError(await redeem(client, authorization), 400, 'unauthorized_client');
    expect((await codeRow(authorization.code))?.redeemed_at).toBeNull();
    await env.DB.prepare('update clients set grant_types = ? where id = ?').bind(registered!.grant_types, client.client_id).run();
    expect((await redeem(client, authorization)).status).toBe(200);
  });

  it('a client deleted after its code was issued: invalid_client, never a 500', async () => {
    const client = await registerClient(ownerToken);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await env.DB.prepare('delete from clients where id = ?').bind(client.client_id).run();
    await expectInvalidClient(await redeem(client, authorization));
  });

  it('a client without refresh_token gets none, though the batch always offers to mint one', async () => {
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code'] });
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read offline_access' });
    const response = await redeem(client, authorization);
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty('refresh_token');
    const minted = await env.DB.prepare('select count(*) as n from refresh_tokens where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(minted?.n).toBe(0);
  });
});

describe('a refresh whose client fails to authenticate rotates nothing', () => {
  let client: RegisteredClient;
  let refreshToken: string;

  beforeAll(async () => {
    client = await registerClient(ownerToken, {
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid books:read offline_access',
    });
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' });
    refreshToken = ((await (await redeem(client, authorization)).json()) as { refresh_token: string }).refresh_token;
  });

  it('a wrong secret: invalid_client, the token unused; the right secret then rotates it', async () => {
    await expectInvalidClient(await refreshAs(withWrongSecret(client), refreshToken));
    expect(await refreshRow(refreshToken)).toEqual({ used_at: null, replaced_by: null });
    const response = await refreshAs(client, refreshToken);
    expect(response.status, await response.clone().text()).toBe(200);
    const rotated = (await response.json()) as { refresh_token: string };
    expect((await refreshRow(refreshToken))?.used_at).not.toBeNull();
    refreshToken = rotated.refresh_token;
  });

  it('a client whose registration lost refresh_token: unauthorized_client, the token unused', async () => {
    await env.DB.prepare(`update clients set grant_types = '["authorization_code"]' where id = ?`).bind(client.client_id).run();
    await expectJsonError(await refreshAs(client, refreshToken), 400, 'unauthorized_client');
    expect((await refreshRow(refreshToken))?.used_at).toBeNull();
    await env.DB.prepare(`update clients set grant_types = '["authorization_code","refresh_token"]' where id = ?`)
      .bind(client.client_id)
      .run();
  });

  it('a scope the client’s registration no longer holds: invalid_scope, the token unused (the rotation’s UPDATE checks it too)', async () => {
    await env.DB.prepare(`update clients set scope = 'openid offline_access' where id = ?`).bind(client.client_id).run();
    await expectJsonError(await refreshAs(client, refreshToken, { scope: 'books:read' }), 400, 'invalid_scope');
    expect((await refreshRow(refreshToken))?.used_at).toBeNull();
    // With the registration restored, the same request rotates it.
    await env.DB.prepare(`update clients set scope = 'openid books:read offline_access' where id = ?`).bind(client.client_id).run();
    const response = await refreshAs(client, refreshToken, { scope: 'books:read' });
    expect(response.status, await response.clone().text()).toBe(200);
  });
});

describe('the failed-authentication limit (CLIENT_AUTH_LIMITER) on the batch path', () => {
  it('a refresh with wrong secrets from one network turns 429 past the limit, rotates nothing, and the right secret still works there', async () => {
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read offline_access' });
    const { refresh_token } = (await (await redeem(client, authorization)).json()) as { refresh_token: string };
    const hextet = () => Math.floor(Math.random() * 0x10000).toString(16);
    const network = `2001:db8:${hextet()}:${hextet()}`;
    const attempt = (secret: string, host: number) =>
      form(
        '/oauth2/token',
        { grant_type: 'refresh_token', refresh_token },
        { Authorization: basic(client.client_id, secret), 'CF-Connecting-IP': `${network}::${host.toString(16)}` },
      );
    let limited: Response | undefined;
    // Within two of the limiter's windows (20 a minute), one of them is over the limit.
    for (let i = 0; i < 42 && !limited; i++) {
      const response = await attempt(`wrong-${i}`, i + 1);
      if (response.status === 429) limited = response;
      else await expectInvalidClient(response);
    }
    expect(limited, 'the failing network was never limited').toBeDefined();
    expect(limited!.headers.get('Retry-After')).toBe('60');
    await expectJsonError(limited!, 429, 'too_many_requests');
    expect(await refreshRow(refresh_token)).toEqual({ used_at: null, replaced_by: null });
    // A brake, not a lock: the right secret is checked and accepted from the same network.
    const response = await attempt(client.client_secret!, 999);
    expect(response.status, await response.clone().text()).toBe(200);
  });
});

describe('a device poll whose client fails to authenticate redeems and records nothing', () => {
  async function approvedRequest(client: RegisteredClient) {
    const headers: Record<string, string> = client.client_secret ? { Authorization: basic(client.client_id, client.client_secret) } : {};
    const body: Record<string, string> = { scope: 'openid books:read offline_access' };
    if (!client.client_secret) body.client_id = client.client_id;
    const started = (await (await form('/oauth2/device_authorization', body, headers)).json()) as {
      device_code: string;
      user_code: string;
    };
    const { done } = await answerOnPages(browser, started.user_code, 'allow');
    expect(done.status).toBe(200);
    return started;
  }

  it('a confidential client with a wrong secret: invalid_client, the approval unspent and the poll not recorded; the right secret gets the tokens', async () => {
    const client = await registerDeviceClient(ownerToken, { token_endpoint_auth_method: 'client_secret_basic' });
    const { device_code } = await approvedRequest(client);
    await expectInvalidClient(await poll(withWrongSecret(client), device_code));
    expect(await deviceRow(device_code)).toMatchObject({ status: 'approved', redeemed_at: null, last_polled_at: null, interval: 5 });
    // Polled again at once: still nothing recorded, so the real device is never slowed down by someone else's failures.
    await expectInvalidClient(await poll(withWrongSecret(client), device_code));
    expect(await deviceRow(device_code)).toMatchObject({ redeemed_at: null, last_polled_at: null, interval: 5 });
    const response = await poll(client, device_code);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
  });

  it('a public client presenting a secret it does not have: invalid_client, the approval unspent', async () => {
    const client = await registerDeviceClient(ownerToken);
    const { device_code } = await approvedRequest(client);
    const response = await form('/oauth2/token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code,
      client_id: client.client_id,
      client_secret: 'guessed',
    });
    await expectJsonError(response, 401, 'invalid_client');
    expect(await deviceRow(device_code)).toMatchObject({ redeemed_at: null, last_polled_at: null });
    expect((await poll(client, device_code)).status).toBe(200);
  });
});

describe('error precedence at the token endpoint (RFC 6749 §5.2): the client’s errors first', () => {
  let client: RegisteredClient;

  beforeAll(async () => {
    client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
  });

  const token = (fields: Record<string, string>, secret: string) =>
    form('/oauth2/token', fields, { Authorization: basic(client.client_id, secret) });

  it('a failing client is invalid_client whatever else is wrong with the request', async () => {
    const wrong = 'not-the-secret';
    await expectInvalidClient(await token({ grant_type: 'urn:example:unsupported' }, wrong));
    await expectInvalidClient(await token({ grant_type: 'authorization_code', code: 'c' }, wrong));
    await expectInvalidClient(
      await token({ grant_type: 'refresh_token', refresh_token: 'r', resource: 'https://elsewhere.example/' }, wrong),
    );
    await expectInvalidClient(await token({ grant_type: 'refresh_token', refresh_token: 'r', scope: 'no-such-scope' }, wrong));
    await expectInvalidClient(await token({ grant_type: 'refresh_token', refresh_token: 'r' }, wrong));
  });

  it('an authenticated client then gets the request’s error', async () => {
    const right = client.client_secret!;
    await expectJsonError(await token({ grant_type: 'urn:example:unsupported' }, right), 400, 'unsupported_grant_type');
    await expectJsonError(await token({ grant_type: 'authorization_code', code: 'c' }, right), 400, 'invalid_request');
    await expectJsonError(
      await token({ grant_type: 'refresh_token', refresh_token: 'r', resource: 'https://elsewhere.example/' }, right),
      400,
      'invalid_target',
    );
    await expectJsonError(
      await token({ grant_type: 'refresh_token', refresh_token: 'r', scope: 'no-such-scope' }, right),
      400,
      'invalid_scope',
    );
    await expectJsonError(await token({ grant_type: 'refresh_token', refresh_token: 'r' }, right), 400, 'invalid_grant');
  });

  it('a client not registered for the grant type is unauthorized_client before any grant error', async () => {
    const codeOnly = await registerClient(ownerToken, { grant_types: ['authorization_code'] });
    const response = await form(
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: 'r' },
      { Authorization: basic(codeOnly.client_id, codeOnly.client_secret!) },
    );
    await expectJsonError(response, 400, 'unauthorized_client');
  });
});

describe('a client ID metadata document client at the token endpoint', () => {
  it('a fresh row joins the batch (one round trip); a stale one is fetched again and the batch runs once more', async () => {
    const client: RegisteredClient = {
      client_id: `https://client.example/good/${unique('doc')}`,
      redirect_uris: ['https://app.client.example/callback'],
      token_endpoint_auth_method: 'none',
    };
    const counted = () => {
      const counts = newCounts({ keepSql: true });
      return { counts, env: countingBindings(env, counts) };
    };
    const redeemCounted = async (authorization: Awaited<ReturnType<typeof authorizeWithConsent>>) => {
      const { counts, env: countedEnv } = counted();
      const response = await app.request(
        `${ISSUER}/oauth2/token`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            ...codeFields(authorization),
            client_id: client.client_id,
          }).toString(),
        },
        countedEnv,
      );
      return { response, counts };
    };

    const fresh = await redeemCounted(await authorizeWithConsent(browser, client, { scope: 'books:read' }));
    expect(fresh.response.status, await fresh.response.clone().text()).toBe(200);
    expect(fresh.counts.sql).toEqual(['batch(5)']);

    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await env.DB.prepare('update clients set metadata_expires_at = 1 where id = ?').bind(client.client_id).run();
    const stale = await redeemCounted(authorization);
    expect(stale.response.status, await stale.response.clone().text()).toBe(200);
    // The first batch's guard refused the stale row (nothing written), the document was stored afresh, the batch ran again.
    expect(stale.counts.sql?.filter((sql) => sql === 'batch(5)')).toHaveLength(2);
    expect(stale.counts.d1).toBeGreaterThan(2);
    const row = await env.DB.prepare('select metadata_expires_at from clients where id = ?')
      .bind(client.client_id)
      .first<{ metadata_expires_at: number }>();
    expect(row!.metadata_expires_at).toBeGreaterThan(Math.floor(Date.now() / 1000));
  });
});
