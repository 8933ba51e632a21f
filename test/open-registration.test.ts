import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS_CLIENT_IDLE_TTL } from '../src/config';
import worker from '../src/index';
import { clearKeyCache } from '../src/services/keys';
import {
  authorizeWithConsent,
  type Browser,
  bearer,
  call,
  createUser,
  expectJsonError,
  json,
  REDIRECT_URI,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

// Open registration (SPEC "Wave 2"): without Authorization, /oauth2/register
// registers a public client (none + PKCE) owned by no one, while
// OPEN_REGISTRATION is public (the default). Its consent page marks it
// unverified; the Cron Trigger removes it once it has gone unused.

const REGISTER = '/oauth2/register';

async function registerAnonymously(metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const response = await json(REGISTER, {
    client_name: 'Anonymous Reader',
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    ...metadata,
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as RegisteredClient;
}

async function clientRow(id: string) {
  return env.DB.prepare('select * from clients where id = ?').bind(id).first<{ owner_id: string | null; secret_hash: string | null }>();
}

async function clientCount(): Promise<number> {
  return (await env.DB.prepare('select count(*) as n from clients').first<{ n: number }>())!.n;
}

let browser: Browser;

beforeAll(async () => {
  browser = await signedInBrowser(await createUser());
});

describe('POST /oauth2/register without Authorization (OPEN_REGISTRATION=public, the default)', () => {
  it('registers a public client owned by no one: no secret, none, and the response says so', async () => {
    const client = await registerAnonymously();
    expect(client.token_endpoint_auth_method).toBe('none');
    expect(client.client_secret).toBeUndefined();
    expect(client.client_secret_expires_at).toBeUndefined();
    expect(client.redirect_uris).toEqual([REDIRECT_URI]);
    expect(await clientRow(client.client_id)).toMatchObject({ owner_id: null, secret_hash: null });
    const audit = await env.DB.prepare("select user_id from audit_events where type = 'client_created' and client_id = ?")
      .bind(client.client_id)
      .first<{ user_id: string | null }>();
    expect(audit).toEqual({ user_id: null });
  });

  it('takes the client through the code flow with PKCE, its consent page marked unverified', async () => {
    const client = await registerAnonymously({ client_name: 'Friendly Notes' });
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const response = await redeem(client, authorization);
    expect(response.status, await response.clone().text()).toBe(200);
    // Without the verifier the code is useless: PKCE as always.
    const again = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await expectJsonError(await redeem(client, again, { code_verifier: 'x'.repeat(43) }), 400, 'invalid_grant');
  });

  it.each([
    ['client_secret_basic', { token_endpoint_auth_method: 'client_secret_basic' }],
    ['client_secret_post', { token_endpoint_auth_method: 'client_secret_post' }],
    ['no method (RFC 7591 §2: client_secret_basic)', { token_endpoint_auth_method: undefined }],
    ['client_credentials', { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], redirect_uris: [] }],
  ])('refuses a confidential client (%s) with 401 and the Bearer challenge, storing nothing', async (_, metadata) => {
    const before = await clientCount();
    const response = await json(REGISTER, { redirect_uris: [REDIRECT_URI], ...metadata });
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="tollgate"');
    const body = await expectJsonError(response, 401, 'invalid_token');
    expect(body.error_description).toContain('token_endpoint_auth_method none');
    expect(await clientCount()).toBe(before);
  });

  it.each([
    ['a garbage token', 'Bearer not.a.token'],
    ['an empty Bearer', 'Bearer '],
    ['another scheme', 'Basic Zm9vOmJhcg=='],
    ['a bare word', 'anonymous'],
  ])('never falls back to anonymous when Authorization is %s: 401', async (_, header) => {
    const before = await clientCount();
    const response = await json(
      REGISTER,
      { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' },
      { headers: { Authorization: header } },
    );
    await expectJsonError(response, 401, 'invalid_token');
    expect(await clientCount()).toBe(before);
  });

  it('refuses bad metadata from anyone with the same errors as for a user', async () => {
    await expectJsonError(
      await json(REGISTER, { token_endpoint_auth_method: 'none', redirect_uris: ['http://app.example/cb'] }),
      400,
      'invalid_redirect_uri',
    );
    await expectJsonError(
      await json(REGISTER, { token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT_URI], scope: 'admin' }),
      400,
      'invalid_client_metadata',
    );
  });

  it('a client nobody owns is in no one’s client list', async () => {
    const user = await createUser();
    const token = await userToken(user);
    await registerAnonymously();
    const listed = (await (await call('/api/clients', { headers: bearer(token) })).json()) as unknown[];
    expect(listed).toEqual([]);
  });
});

describe('the consent page', () => {
  it('does not mark a client registered by a signed-in user', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), { client_name: 'Owned App' });
    const html = await consentPage(client);
    expect(html).toContain('Owned App');
    expect(html.toLowerCase()).not.toContain('unverified');
  });

  it('marks an anonymous client unverified and leads with its redirect host', async () => {
    const client = await registerAnonymously({ client_name: 'Anonymous App', redirect_uris: ['https://notes.example.net/cb'] });
    const html = await consentPage(client);
    expect(html).toContain('Unverified app');
    expect(html).toMatch(/<h1>Allow an unverified app at notes\.example\.net\?<\/h1>/);
    expect(html).toContain('calls itself <strong>“Anonymous App”</strong>');
  });
});

async function consentPage(client: RegisteredClient): Promise<string> {
  const { pkce, authorizeUrl } = await import('./helpers');
  const { challenge } = await pkce();
  const response = await browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0],
      scope: 'books:read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    }),
  );
  expect(response.status).toBe(200);
  return response.text();
}

describe('removing unused clients nobody owns (the Cron Trigger)', () => {
  it('removes idle anonymous and document clients, and keeps used, recent and owned ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = now - ANONYMOUS_CLIENT_IDLE_TTL - 60;
    const setCreated = (id: string, at: number) => env.DB.prepare('update clients set created_at = ? where id = ?').bind(at, id).run();

    const idle = await registerAnonymously();
    await setCreated(idle.client_id, old);

    const recent = await registerAnonymously();

    // Used within the idle time: the grant was made (and the code redeemed) just now.
    const used = await registerAnonymously();
    const authorization = await authorizeWithConsent(browser, used, { scope: 'books:read' });
    expect((await redeem(used, authorization)).status).toBe(200);
    await setCreated(used.client_id, old);

    // Its grant went unused for longer than the idle time: the client goes, and its grant with it.
    const abandoned = await registerAnonymously();
    await authorizeWithConsent(browser, abandoned, { scope: 'books:read' });
    await setCreated(abandoned.client_id, old);
    await env.DB.prepare('update grants set created_at = ?, updated_at = ?, last_used_at = ? where client_id = ?')
      .bind(old, old, old, abandoned.client_id)
      .run();

    const owner = await createUser();
    const owned = await registerClient(await userToken(owner));
    await setCreated(owned.client_id, old);

    const documentId = `https://client.example/good/prune-${crypto.randomUUID()}`;
    await env.DB.prepare(
      `insert into clients (id, owner_id, name, token_endpoint_auth_method, redirect_uris, grant_types, created_at, metadata_expires_at)
       values (?, null, 'Doc', 'none', '["https://app.client.example/callback"]', '["authorization_code"]', ?, ?)`,
    )
      .bind(documentId, old, old + 600)
      .run();

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 1 * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();

    expect(await clientRow(idle.client_id)).toBeNull();
    expect(await clientRow(abandoned.client_id)).toBeNull();
    expect(await clientRow(documentId)).toBeNull();
    const grants = await env.DB.prepare('select count(*) as n from grants where client_id = ?')
      .bind(abandoned.client_id)
      .first<{ n: number }>();
    expect(grants!.n).toBe(0);
    expect(await clientRow(recent.client_id)).not.toBeNull();
    expect(await clientRow(used.client_id)).not.toBeNull();
    expect(await clientRow(owned.client_id)).not.toBeNull();
  });
});
