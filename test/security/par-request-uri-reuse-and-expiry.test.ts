import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { clearKeyCache } from '../../src/services/keys';
import {
  type Browser,
  basic,
  expectErrorPage,
  expectJsonError,
  form,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  registerClient,
  storedHash,
  unique,
  uniqueIp,
} from '../helpers';
import { victim } from './support';

// RFC 9126 §7 (and §4): a request_uri is single use and short-lived, and
// names one client's request. An attacker who sees one (a log, a referrer, a
// shoulder) must not use it again, use it late, or use it as another client;
// nor may a pushed request smuggle a request_uri of its own.

/** Pushes a valid request for `client`; the request_uri and the random part it is stored under the hash of. */
async function push(client: RegisteredClient, fields: Record<string, string> = {}) {
  const { challenge } = await pkce();
  const body = {
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'books:read',
    state: unique('state'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
    ...fields,
  };
  const response = client.client_secret
    ? await form('/oauth2/par', body, { Authorization: basic(client.client_id, client.client_secret) })
    : await form('/oauth2/par', { ...body, client_id: client.client_id });
  const text = await response.text();
  expect(response.status, text).toBe(201);
  const { request_uri } = JSON.parse(text) as { request_uri: string };
  return { requestUri: request_uri, hash: await storedHash(request_uri.split(':').at(-1)!) };
}

function use(browser: Browser, clientId: string, requestUri: string): Promise<Response> {
  return browser.get(`/oauth2/authorize?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}`);
}

let browser: Browser;
let client: RegisteredClient;
let ownerToken: string;

beforeAll(async () => {
  ({ browser, client, ownerToken } = await victim());
});

describe('request_uri reuse, expiry and theft (RFC 9126 §7)', () => {
  it('a request_uri serves once: the second use is an error page with no code and no redirect', async () => {
    const { requestUri, hash } = await push(client);
    expect((await use(browser, client.client_id, requestUri)).status).toBe(200);
    const again = await use(browser, client.client_id, requestUri);
    const html = await expectErrorPage(again);
    expect(html).toMatch(/expired or was already used/);
    const row = await env.DB.prepare('select used_at from pushed_requests where hash = ?').bind(hash).first<{ used_at: number }>();
    expect(row!.used_at).toEqual(expect.any(Number));
  });

  it('two uses at once: exactly one gets the consent page (the UPDATE consumes atomically in D1)', async () => {
    const { requestUri } = await push(client);
    const answers = await Promise.all([use(browser, client.client_id, requestUri), use(browser, client.client_id, requestUri)]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400]);
  });

  it('an expired request_uri is refused even if never used', async () => {
    const { requestUri, hash } = await push(client);
    await env.DB.prepare('update pushed_requests set expires_at = ? where hash = ?')
      .bind(Math.floor(Date.now() / 1000) - 1, hash)
      .run();
    await expectErrorPage(await use(browser, client.client_id, requestUri));
  });

  it("another client's request_uri is refused, and stays usable by its own client", async () => {
    const attacker = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    const { requestUri } = await push(client);
    await expectErrorPage(await use(browser, attacker.client_id, requestUri));
    expect((await use(browser, client.client_id, requestUri)).status).toBe(200);
  });

  it('a request_uri inside a pushed request is refused, and nothing is stored', async () => {
    const { requestUri } = await push(client);
    const before = await env.DB.prepare('select count(*) as n from pushed_requests where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    const { challenge } = await pkce();
    const response = await form(
      '/oauth2/par',
      {
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        request_uri: requestUri,
      },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    const body = await expectJsonError(response, 400, 'invalid_request');
    expect(body.error_description).toMatch(/request_uri/);
    const after = await env.DB.prepare('select count(*) as n from pushed_requests where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it('the random part is the only key: a made-up request_uri of the right shape is refused', async () => {
    await expectErrorPage(await use(browser, client.client_id, `urn:ietf:params:oauth:request_uri:${'x'.repeat(43)}`));
  });

  it("a push clears its client's expired requests, and the Cron Trigger's prune removes the rest", async () => {
    const { hash } = await push(client);
    await env.DB.prepare('update pushed_requests set expires_at = 1 where hash = ?').bind(hash).run();
    await push(client);
    expect(await env.DB.prepare('select hash from pushed_requests where hash = ?').bind(hash).first()).toBeNull();

    const other = await registerClient(ownerToken);
    const expired = await push(other);
    const live = await push(other);
    await env.DB.prepare('update pushed_requests set expires_at = 1 where hash = ?').bind(expired.hash).run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 1 * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();
    expect(await env.DB.prepare('select hash from pushed_requests where hash = ?').bind(expired.hash).first()).toBeNull();
    expect(await env.DB.prepare('select hash from pushed_requests where hash = ?').bind(live.hash).first()).not.toBeNull();
  });
});

describe('pushed requests per client network', () => {
  it('past the limit a network gets 429 and nothing is stored: a public client id is no secret', async () => {
    const { client } = await victim({ token_endpoint_auth_method: 'none' });
    const tight = { ...env, PUSHED_REQUEST_IP_LIMITER: env.TIGHT_LIMITER };
    const address = uniqueIp();
    const pushFrom = async (ip: string) => {
      const { challenge } = await pkce();
      return worker.fetch(
        new Request('http://localhost:8787/oauth2/par', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': ip },
          body: new URLSearchParams({
            client_id: client.client_id,
            response_type: 'code',
            redirect_uri: REDIRECT_URI,
            scope: 'books:read',
            code_challenge: challenge,
            code_challenge_method: 'S256',
          }).toString(),
        }),
        tight,
        createExecutionContext(),
      );
    };
    expect((await pushFrom(address)).status).toBe(201);
    expect((await pushFrom(address)).status).toBe(201);
    const limited = await pushFrom(address);
    await expectJsonError(limited, 429, 'too_many_requests');
    expect(limited.headers.get('Retry-After')).toBe('60');
    const stored = await env.DB.prepare('select count(*) as n from pushed_requests where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(2);
    // Another network is counted apart.
    expect((await pushFrom(uniqueIp())).status).toBe(201);
  });
});
