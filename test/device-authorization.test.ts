import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../src/index';
import { clearKeyCache } from '../src/services/keys';
import {
  answerOnPages,
  DEVICE_GRANT,
  deviceConfig,
  deviceRow,
  enterCode,
  poll,
  registerDeviceClient,
  requestDeviceAuthorization,
  USER_CODE_SHAPE,
} from './device-support';
import {
  Browser,
  basic,
  bearer,
  call,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  formAction,
  hiddenFields,
  ISSUER,
  json,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  storedHash,
  type TestUser,
  userToken,
} from './helpers';

describe('the device authorization grant (RFC 8628) with openid-client against the real pages', () => {
  let user: TestUser;
  let ownerToken: string;
  let client: RegisteredClient;

  beforeAll(async () => {
    user = await createUser({ name: 'Margaret Hamilton' });
    ownerToken = await userToken(user);
    client = await registerDeviceClient(ownerToken);
  });

  it('is advertised in both metadata documents', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const metadata = (await (await call(path)).json()) as Record<string, unknown>;
      expect(metadata.device_authorization_endpoint).toBe(`${ISSUER}/oauth2/device_authorization`);
      expect(metadata.grant_types_supported).toContain(DEVICE_GRANT);
    }
  });

  it('answers RFC 8628 §3.2: device code, user code XXXX-XXXX, verification URIs, 10 minutes, 5 seconds', async () => {
    const response = await requestDeviceAuthorization(client, { scope: 'openid books:read' });
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      device_code: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      user_code: expect.stringMatching(USER_CODE_SHAPE),
      verification_uri: `${ISSUER}/device`,
      verification_uri_complete: `${ISSUER}/device?user_code=${body.user_code}`,
      expires_in: 600,
      interval: 5,
    });
    // Only hashes are stored (the user code without its dash).
    const row = await deviceRow(body.device_code as string);
    expect(row).toMatchObject({
      user_code_hash: await storedHash((body.user_code as string).replace('-', '')),
      status: 'pending',
      scope: 'openid books:read',
      interval: 5,
    });
    expect(JSON.stringify(row)).not.toContain(body.device_code);
  });

  it('approve: the code typed on /device after signing in, consent, then tokens as the code flow issues them', async () => {
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access books:read' });
    expect(started.user_code).toMatch(USER_CODE_SHAPE);

    // A signed-out browser opens verification_uri_complete: the code is prefilled.
    const browser = new Browser();
    const complete = new URL(started.verification_uri_complete!);
    const page = await browser.get(complete.pathname + complete.search);
    const pageHtml = await page.text();
    expect(page.status).toBe(200);
    expect(pageHtml).toContain('<label for="user_code">Code</label>');
    expect(pageHtml).toContain(`value="${started.user_code}"`);
    expect(pageHtml).toContain('>Continue</button>');
    // Continue sends it to sign in, and back to /device with the code.
    const toLogin = await enterCode(browser, started.user_code);
    expect(toLogin.status).toBe(303);
    const login = toLogin.headers.get('Location')!;
    expect(login).toBe(`/login?return_to=${encodeURIComponent(`/device?user_code=${started.user_code}`)}`);
    const signedIn = await browser.submit(login, { email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('Location')).toBe(`/device?user_code=${started.user_code}`);

    // Typed in lower case, without the dash: the same code.
    const { consent, done } = await answerOnPages(browser, started.user_code.replace('-', '').toLowerCase(), 'allow');
    expect(consent).toContain('Living Room TV');
    expect(consent).toContain('A device asked to sign in');
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('You may close this page');

    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('openid profile offline_access books:read');
    expect(tokens.refresh_token).toBeTruthy();
    // openid-client verified the ID token (signature, iss, aud, exp, iat).
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: ISSUER, sub: user.id, aud: client.client_id, name: 'Margaret Hamilton' });
    expect(claims.auth_time).toEqual(expect.any(Number));
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ sub: user.id, auth_time: claims.auth_time });

    // The approval widened the user's grant and is in the audit trail, like a consent in the code flow.
    const grant = await env.DB.prepare('select scope from grants where user_id = ? and client_id = ?')
      .bind(user.id, client.client_id)
      .first<{ scope: string }>();
    expect(grant?.scope.split(' ').sort()).toEqual(['books:read', 'offline_access', 'openid', 'profile']);
    const audit = await env.DB.prepare(
      "select count(*) as n from audit_events where type = 'consent_granted' and user_id = ? and client_id = ?",
    )
      .bind(user.id, client.client_id)
      .first<{ n: number }>();
    expect(audit?.n).toBe(1);
  });

  it('a public client without offline_access gets no refresh token; a confidential one with client_secret_basic does', async () => {
    const browser = await signedInBrowser(user);
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'books:read' });
    await answerOnPages(browser, started.user_code, 'allow');
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();

    const confidential = await registerDeviceClient(ownerToken, { token_endpoint_auth_method: 'client_secret_basic' });
    expect(confidential.client_secret).toBeTruthy();
    const confidentialConfig = await deviceConfig(confidential);
    const again = await oidc.initiateDeviceAuthorization(confidentialConfig, { scope: 'books:read' });
    await answerOnPages(browser, again.user_code, 'allow');
    expect((await oidc.pollDeviceAuthorizationGrant(confidentialConfig, again)).refresh_token).toBeTruthy();
  });

  it('deny: the device gets access_denied, and keeps getting it', async () => {
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'books:read' });
    const { done } = await answerOnPages(await signedInBrowser(user), started.user_code, 'deny');
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('You denied');
    await expect(oidc.pollDeviceAuthorizationGrant(config, started)).rejects.toMatchObject({ error: 'access_denied' });
    await expectJsonError(await poll(client, started.device_code), 400, 'access_denied');
    // No grant and no consent event for a denial.
    const grant = await env.DB.prepare('select 1 from device_authorizations where device_code_hash = ? and grant_id is null')
      .bind(await storedHash(started.device_code))
      .first();
    expect(grant).not.toBeNull();
  });

  it('expire: a device code past its 10 minutes gets expired_token, and its user code is refused on /device', async () => {
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'books:read' });
    // Ten minutes pass.
    await env.DB.prepare('update device_authorizations set expires_at = ? where device_code_hash = ?')
      .bind(Math.floor(Date.now() / 1000) - 1, await storedHash(started.device_code))
      .run();
    await expect(oidc.pollDeviceAuthorizationGrant(config, started)).rejects.toMatchObject({ error: 'expired_token' });
    const refused = await enterCode(await signedInBrowser(user), started.user_code);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('has expired');
    expect((await deviceRow(started.device_code))?.status).toBe('pending');
  });

  it('slow_down: polling sooner than the interval grows it by 5 s each time, remembered in D1 (RFC 8628 §3.5)', async () => {
    const started = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as { device_code: string };
    await expectJsonError(await poll(client, started.device_code), 400, 'authorization_pending');
    await expectJsonError(await poll(client, started.device_code), 400, 'slow_down');
    expect((await deviceRow(started.device_code))?.interval).toBe(10);
    await expectJsonError(await poll(client, started.device_code), 400, 'slow_down');
    expect((await deviceRow(started.device_code))?.interval).toBe(15);
    // Waiting the interval out is no longer too soon.
    await env.DB.prepare('update device_authorizations set last_polled_at = last_polled_at - 15 where device_code_hash = ?')
      .bind(await storedHash(started.device_code))
      .run();
    await expectJsonError(await poll(client, started.device_code), 400, 'authorization_pending');
    expect((await deviceRow(started.device_code))?.interval).toBe(15);
  });

  it('slow_down through openid-client: it waits 5 s longer and then gets the tokens', async () => {
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'books:read' });
    // A first poll just now: the library's first poll is too soon.
    await expectJsonError(await poll(client, started.device_code), 400, 'authorization_pending');
    const browser = await signedInBrowser(user);
    const polling = oidc.pollDeviceAuthorizationGrant(config, started);
    await answerOnPages(browser, started.user_code, 'allow');
    const tokens = await polling;
    expect(tokens.access_token).toBeTruthy();
    // Grown at least once (the test's fetch made the library's own interval shorter than the server's).
    expect((await deviceRow(started.device_code))?.interval).toBeGreaterThanOrEqual(10);
  }, 20_000);

  it('double redemption under concurrency: two polls after approval, exactly one token set', async () => {
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access books:read' });
    await answerOnPages(await signedInBrowser(user), started.user_code, 'allow');
    const results = await Promise.allSettled([
      oidc.pollDeviceAuthorizationGrant(config, started),
      oidc.pollDeviceAuthorizationGrant(config, started),
    ]);
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ error: 'invalid_grant' });
    // One refresh token was minted for the redemption, not two.
    const row = await deviceRow(started.device_code);
    const minted = await env.DB.prepare('select count(*) as n from refresh_tokens where grant_id = ? and created_at >= ?')
      .bind(row?.grant_id, row?.redeemed_at)
      .first<{ n: number }>();
    expect(minted?.n).toBe(1);
    // And a later poll is still refused.
    await expectJsonError(await poll(client, started.device_code), 400, 'invalid_grant');
  });

  it("a code approved by one user never yields tokens to another device or client, nor to another user's answer", async () => {
    const other = await registerDeviceClient(ownerToken, { client_name: 'Other Device' });
    const mine = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    const theirs = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    await answerOnPages(await signedInBrowser(user), mine.user_code!, 'allow');

    // Another client presenting this device code: unknown to it, and nothing changes.
    await expectJsonError(await poll(other, mine.device_code!), 400, 'invalid_grant');
    expect((await deviceRow(mine.device_code!))?.last_polled_at).toBeNull();
    // Another device of the same client still waits for its own user.
    await expectJsonError(await poll(client, theirs.device_code!), 400, 'authorization_pending');
    // Another user cannot answer the approved code again.
    const stranger = await createUser();
    const refused = await enterCode(await signedInBrowser(stranger), mine.user_code!);
    expect(refused.status).toBe(400);
    // The device gets tokens for the user who approved, and only once.
    const response = await poll(client, mine.device_code!);
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as { access_token: string };
    expect(decodeJwt(tokens.access_token).payload).toMatchObject({ sub: user.id, client_id: client.client_id });
    await expectJsonError(await poll(client, mine.device_code!), 400, 'invalid_grant');
  });

  it('a grant revoked between approval and the poll gives no tokens', async () => {
    const started = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    await answerOnPages(await signedInBrowser(user), started.user_code!, 'allow');
    await env.DB.prepare('delete from grants where user_id = ? and client_id = ?').bind(user.id, client.client_id).run();
    await expectJsonError(await poll(client, started.device_code!), 400, 'invalid_grant');
  });
});

describe('POST /oauth2/device_authorization', () => {
  let ownerToken: string;
  let client: RegisteredClient;

  beforeAll(async () => {
    ownerToken = await userToken(await createUser());
    client = await registerDeviceClient(ownerToken, { scope: 'openid books:read' });
  });

  it('authenticates a confidential client like the token endpoint', async () => {
    const confidential = await registerDeviceClient(ownerToken, { token_endpoint_auth_method: 'client_secret_basic' });
    const ok = await form(
      '/oauth2/device_authorization',
      { scope: 'books:read' },
      { Authorization: basic(confidential.client_id, confidential.client_secret!) },
    );
    expect(ok.status).toBe(200);
    const wrong = await form(
      '/oauth2/device_authorization',
      { scope: 'books:read' },
      { Authorization: basic(confidential.client_id, 'nope') },
    );
    await expectJsonError(wrong, 401, 'invalid_client');
    // Its client_id alone (as a public client would send) is not enough.
    await expectJsonError(await requestDeviceAuthorization(confidential), 401, 'invalid_client');
    await expectJsonError(await form('/oauth2/device_authorization', { scope: 'books:read' }), 401, 'invalid_client');
    await expectJsonError(await requestDeviceAuthorization({ ...client, client_id: 'no-such-client' }), 401, 'invalid_client');
  });

  it('refuses a client not registered for the device grant, and checks scope like the authorization endpoint', async () => {
    const codeClient = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    await expectJsonError(await requestDeviceAuthorization(codeClient, { scope: 'books:read' }), 400, 'unauthorized_client');
    await expectJsonError(await requestDeviceAuthorization(client, { scope: 'books:write' }), 400, 'invalid_scope');
    await expectJsonError(await requestDeviceAuthorization(client, { scope: 'no-such-scope' }), 400, 'invalid_scope');
    // No scope: the client's registered scope.
    const defaulted = (await (await requestDeviceAuthorization(client)).json()) as { device_code: string };
    expect((await deviceRow(defaulted.device_code))?.scope).toBe('openid books:read');
  });

  it('refuses bad input with a JSON error and stores nothing', async () => {
    const before = await env.DB.prepare('select count(*) as n from device_authorizations where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    await expectJsonError(await json('/oauth2/device_authorization', { client_id: client.client_id }), 415, 'invalid_request');
    const twice = await call('/oauth2/device_authorization', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `client_id=${client.client_id}&scope=books:read&scope=openid`,
    });
    await expectJsonError(twice, 400, 'invalid_request');
    await expectJsonError(await requestDeviceAuthorization(client, { scope: 'x'.repeat(5000) }), 400, 'invalid_request');
    const after = await env.DB.prepare('select count(*) as n from device_authorizations where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it('polls with a bad device_code get invalid_grant or invalid_request, never a 500', async () => {
    await expectJsonError(await poll(client, 'not-a-device-code'), 400, 'invalid_grant');
    await expectJsonError(await poll(client, 'x'.repeat(300)), 400, 'invalid_request');
    const missing = await form('/oauth2/token', { client_id: client.client_id, grant_type: DEVICE_GRANT });
    await expectJsonError(missing, 400, 'invalid_request');
  });

  it('a client not registered for the grant cannot poll with it', async () => {
    const codeClient = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    await expectJsonError(await poll(codeClient, 'anything'), 400, 'unauthorized_client');
  });
});

describe('registration for the device grant', () => {
  let ownerToken: string;

  beforeAll(async () => {
    ownerToken = await userToken(await createUser());
  });

  it('a client registered only for the device grant (and refresh tokens) needs no redirect_uris', async () => {
    const device = await registerDeviceClient(ownerToken);
    expect(device.grant_types).toEqual([DEVICE_GRANT, 'refresh_token']);
    expect(device.redirect_uris).toEqual([]);
    const only = await registerDeviceClient(ownerToken, { grant_types: [DEVICE_GRANT] });
    expect(only.grant_types).toEqual([DEVICE_GRANT]);
  });

  it('refresh_token still needs a user grant (code or device)', async () => {
    const response = await json(
      '/oauth2/register',
      { client_name: 'x', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' },
      { headers: { Authorization: `Bearer ${ownerToken}` } },
    );
    await expectJsonError(response, 400, 'invalid_client_metadata');
  });
});

describe('the /device pages', () => {
  let user: TestUser;
  let client: RegisteredClient;

  beforeAll(async () => {
    user = await createUser();
    client = await registerDeviceClient(await userToken(user));
  });

  it('GET /device shows the Code field and Continue; a bad ?user_code= is only not prefilled', async () => {
    const page = await call('/device');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<label for="user_code">Code</label>');
    expect(html).toContain('>Continue</button>');
    const long = await call(`/device?user_code=${'B'.repeat(100)}`);
    expect(long.status).toBe(200);
    expect(await long.text()).not.toContain('BBBBBBBBBB');
  });

  it('a malformed code is refused on the page; POSTs need the CSRF token', async () => {
    const browser = await signedInBrowser(user);
    const malformed = await enterCode(browser, 'AEIOU-123');
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toContain('8 letters');
    const noCsrf = await browser.post('/device', { user_code: 'BCDF-GHJK' });
    expect(noCsrf.status).toBe(403);
    const answerNoCsrf = await browser.post('/device/answer', { user_code: 'BCDFGHJK', decision: 'allow' });
    expect(answerNoCsrf.status).toBe(403);
  });

  it('an answer for an unknown code, or a second answer, is an error page and changes nothing', async () => {
    const browser = await signedInBrowser(user);
    const started = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    const { consent, done } = await answerOnPages(browser, started.user_code!, 'deny');
    expect(done.status).toBe(200);
    // The same consent form posted again (allow this time): refused, still denied.
    const again = await browser.post(formAction(consent), { ...hiddenFields(consent), decision: 'allow' });
    expect(again.status).toBe(400);
    expect((await deviceRow(started.device_code!))?.status).toBe('denied');
    const bogus = await browser.post(formAction(consent), { ...hiddenFields(consent), user_code: 'BCDFGHJK', decision: 'allow' });
    expect(bogus.status).toBe(400);
    const bad = await browser.post(formAction(consent), { ...hiddenFields(consent), decision: 'maybe' });
    expect(bad.status).toBe(400);
  });
});

describe('the Cron Trigger', () => {
  it('deletes device authorizations a day after they expired, and keeps younger ones for a late poll', async () => {
    const client = await registerDeviceClient(await userToken(await createUser()));
    const old = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as { device_code: string };
    const recent = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as { device_code: string };
    const time = Math.floor(Date.now() / 1000);
    const expire = (code: string, at: number) =>
      storedHash(code).then((hash) =>
        env.DB.prepare('update device_authorizations set expires_at = ? where device_code_hash = ?').bind(at, hash).run(),
      );
    await expire(old.device_code, time - 24 * 60 * 60 - 60);
    await expire(recent.device_code, time - 60);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 1 * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();
    expect(await deviceRow(old.device_code)).toBeNull();
    expect(await deviceRow(recent.device_code)).not.toBeNull();
    await expectJsonError(await poll(client, recent.device_code), 400, 'expired_token');
  });
});

describe('resource indicators (RFC 8707) in the device flow', () => {
  let user: TestUser;
  let client: RegisteredClient;

  beforeAll(async () => {
    user = await createUser();
    client = await registerDeviceClient(await userToken(user));
  });

  async function approved(fields: Record<string, string>): Promise<Record<string, string>> {
    const started = (await (await requestDeviceAuthorization(client, fields)).json()) as Record<string, string>;
    await answerOnPages(await signedInBrowser(user), started.user_code!, 'allow');
    return started;
  }

  it('a device that names the MCP server gets a token for it, and its refresh token keeps it', async () => {
    const started = await approved({ scope: 'books:read offline_access', resource: `${ISSUER}/mcp` });
    const response = await poll(client, started.device_code!);
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as { access_token: string; refresh_token: string };
    expect(decodeJwt(tokens.access_token).payload.aud).toBe(`${ISSUER}/mcp`);
    const refreshed = await form('/oauth2/token', {
      client_id: client.client_id,
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(decodeJwt(((await refreshed.json()) as { access_token: string }).access_token).payload.aud).toBe(`${ISSUER}/mcp`);
  });

  it('a poll naming a resource the request did not ask for is invalid_target and leaves the approval unspent', async () => {
    const started = await approved({ scope: 'books:read', resource: `${ISSUER}/mcp` });
    const widened = await form('/oauth2/token', {
      client_id: client.client_id,
      grant_type: DEVICE_GRANT,
      device_code: started.device_code!,
      resource: `${ISSUER}/api/books`,
    });
    await expectJsonError(widened, 400, 'invalid_target');
    const unknown = await form('/oauth2/token', {
      client_id: client.client_id,
      grant_type: DEVICE_GRANT,
      device_code: started.device_code!,
      resource: 'https://elsewhere.example/api',
    });
    await expectJsonError(unknown, 400, 'invalid_target');
    expect((await deviceRow(started.device_code!))?.redeemed_at).toBeNull();
    // The default is the books API: a device that named none may narrow to it.
    const plain = await approved({ scope: 'books:read' });
    const narrowed = await form('/oauth2/token', {
      client_id: client.client_id,
      grant_type: DEVICE_GRANT,
      device_code: plain.device_code!,
      resource: `${ISSUER}/api/books`,
    });
    expect(narrowed.status).toBe(200);
    expect(decodeJwt(((await narrowed.json()) as { access_token: string }).access_token).payload.aud).toBe(`${ISSUER}/api/books`);
    // And the first one, polled as asked, gets its token.
    await env.DB.prepare('update device_authorizations set last_polled_at = null where device_code_hash = ?')
      .bind(await storedHash(started.device_code!))
      .run();
    expect((await poll(client, started.device_code!)).status).toBe(200);
  });

  it('an unknown resource at the device authorization request is invalid_target, and nothing is stored', async () => {
    const before = await env.DB.prepare('select count(*) as n from device_authorizations where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    await expectJsonError(
      await requestDeviceAuthorization(client, { scope: 'books:read', resource: 'https://elsewhere.example/' }),
      400,
      'invalid_target',
    );
    const after = await env.DB.prepare('select count(*) as n from device_authorizations where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});
