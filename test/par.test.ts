import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import { app } from '../src/app';
import {
  Browser,
  basic,
  call,
  createUser,
  expectErrorPage,
  expectErrorRedirect,
  expectJsonError,
  form,
  formAction,
  hiddenFields,
  ISSUER,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  storedHash,
  type TestUser,
  unique,
  userToken,
} from './helpers';

// RFC 9126: POST /oauth2/par, then /oauth2/authorize?client_id&request_uri.

const PAR = '/oauth2/par';

async function pushedRows(clientId: string): Promise<Record<string, unknown>[]> {
  const { results } = await env.DB.prepare('select * from pushed_requests where client_id = ?').bind(clientId).all();
  return results;
}

/** A valid pushed request's parameters for `client`, with a fresh PKCE pair and state. */
async function requestFields(client: RegisteredClient, overrides: Record<string, string> = {}) {
  const { verifier, challenge } = await pkce();
  const state = unique('state');
  const fields = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0]!,
    scope: 'openid books:read',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  return { fields, verifier, state };
}

/** POST /oauth2/par as `client` (client_secret_basic, or client_id alone for a public client). */
function push(client: RegisteredClient, fields: Record<string, string>): Promise<Response> {
  if (!client.client_secret) return form(PAR, fields);
  const { client_id: _id, ...rest } = fields;
  return form(PAR, rest, { Authorization: basic(client.client_id, client.client_secret) });
}

async function pushed(client: RegisteredClient, overrides: Record<string, string> = {}) {
  const request = await requestFields(client, overrides);
  const response = await push(client, request.fields);
  const text = await response.text();
  expect(response.status, text).toBe(201);
  const body = JSON.parse(text) as { request_uri: string; expires_in: number };
  return { ...request, ...body, response };
}

function authorizeByUri(clientId: string, requestUri: string, extra = ''): string {
  return `/oauth2/authorize?client_id=${encodeURIComponent(clientId)}&request_uri=${encodeURIComponent(requestUri)}${extra}`;
}

/** Allows the consent page in `html`: the redirect back to the client. */
async function allow(browser: Browser, html: string): Promise<URL> {
  const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
  expect(decision.status).toBe(303);
  return new URL(decision.headers.get('Location')!);
}

let user: TestUser;
let ownerToken: string;
let confidential: RegisteredClient;
let publicClient: RegisteredClient;

beforeAll(async () => {
  user = await createUser();
  ownerToken = await userToken(user);
  [confidential, publicClient] = await Promise.all([
    registerClient(ownerToken),
    registerClient(ownerToken, { token_endpoint_auth_method: 'none' }),
  ]);
});

describe('POST /oauth2/par', () => {
  it('a confidential client pushes a request: 201 {request_uri, expires_in: 60}, kept by the hash of its random part', async () => {
    const { request_uri, expires_in, response, state } = await pushed(confidential);
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    expect(expires_in).toBe(60);
    const random = /^urn:ietf:params:oauth:request_uri:([A-Za-z0-9_-]{43})$/.exec(request_uri)?.[1];
    expect(random).toBeDefined();
    const row = await env.DB.prepare('select * from pushed_requests where hash = ?')
      .bind(await storedHash(random!))
      .first();
    expect(row).toMatchObject({ client_id: confidential.client_id, used_at: null });
    expect(Number(row!.expires_at) - Number(row!.created_at)).toBe(60);
    const parameters = JSON.parse(String(row!.parameters)) as Record<string, string>;
    expect(parameters).toMatchObject({ client_id: confidential.client_id, state, redirect_uri: REDIRECT_URI });
    // The random part is never stored in clear.
    expect(JSON.stringify(row)).not.toContain(random!);
  });

  it('client_secret_post: the secret is used to authenticate and never kept with the request', async () => {
    const { fields } = await requestFields(confidential);
    const response = await form(PAR, { ...fields, client_secret: confidential.client_secret! });
    // Registered for client_secret_basic: another method is refused, as at the token endpoint.
    await expectJsonError(response, 401, 'invalid_client');
    const post = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
    const { fields: postFields } = await requestFields(post);
    const accepted = await form(PAR, { ...postFields, client_secret: post.client_secret! });
    expect(accepted.status).toBe(201);
    const rows = await pushedRows(post.client_id);
    expect(rows).toHaveLength(1);
    expect(String(rows[0]!.parameters)).not.toContain(post.client_secret!);
    expect(String(rows[0]!.parameters)).not.toContain('client_secret');
  });

  it('a public client pushes with its client_id alone', async () => {
    const { request_uri } = await pushed(publicClient);
    expect(request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('a wrong secret is 401 invalid_client and nothing is stored', async () => {
    const client = await registerClient(ownerToken);
    const { fields } = await requestFields(client);
    const { client_id: _id, ...rest } = fields;
    const response = await form(PAR, rest, { Authorization: basic(client.client_id, 'wrong secret') });
    await expectJsonError(response, 401, 'invalid_client');
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it.each([
    ['no code_challenge (PKCE is required)', { code_challenge: '' }, 'invalid_request'],
    ['a plain PKCE method', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['an unregistered redirect_uri', { redirect_uri: 'https://evil.example/callback' }, 'invalid_request'],
    ['no redirect_uri', { redirect_uri: '' }, 'invalid_request'],
    ['an unknown scope', { scope: 'openid admin' }, 'invalid_scope'],
    ['an unknown resource', { resource: 'https://elsewhere.example/api' }, 'invalid_target'],
    ['prompt=none with another value', { prompt: 'none login' }, 'invalid_request'],
    ['a request_uri inside the pushed request (RFC 9126 §2.1)', { request_uri: 'urn:ietf:params:oauth:request_uri:x' }, 'invalid_request'],
  ])('bad input: %s is 400 %s as JSON, and nothing is stored', async (_, overrides, error) => {
    const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    const { fields } = await requestFields(client);
    const sent: Record<string, string> = { ...fields };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === '') delete sent[key];
      else sent[key] = value;
    }
    await expectJsonError(await form(PAR, sent), 400, error);
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it('a repeated parameter, a JSON body and a GET are refused as JSON, and nothing is stored', async () => {
    const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    const { fields } = await requestFields(client);
    const repeated = `${new URLSearchParams(fields)}&state=again`;
    const twice = await call(PAR, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: repeated });
    const body = await expectJsonError(twice, 400, 'invalid_request');
    expect(body.error_description).toMatch(/state/);
    const asJson = await call(PAR, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fields) });
    expect(asJson.status).toBe(415);
    expect((await asJson.json()) as Record<string, unknown>).toMatchObject({ error: 'invalid_request' });
    const get = await call(`${PAR}?${new URLSearchParams(fields)}`);
    expect(get.status).toBe(404);
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it('a client registered only for client_credentials (no redirect URI to answer at) is refused', async () => {
    const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [] });
    const { fields } = await requestFields(machine, { redirect_uri: REDIRECT_URI });
    await expectJsonError(await push(machine, fields), 400, 'invalid_request');
    expect(await pushedRows(machine.client_id)).toHaveLength(0);
  });
});

describe('GET /oauth2/authorize with a request_uri', () => {
  it('uses the pushed request: consent, a code with its state and iss, tokens for its PKCE verifier', async () => {
    const browser = await signedInBrowser(user);
    const { request_uri, verifier, state } = await pushed(confidential, { prompt: 'consent' });
    const consent = await browser.get(authorizeByUri(confidential.client_id, request_uri));
    expect(consent.status).toBe(200);
    const location = await allow(browser, await consent.text());
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('iss')).toBe(ISSUER);
    const code = location.searchParams.get('code')!;
    const tokens = await redeem(confidential, { code, verifier, redirectUri: REDIRECT_URI, state, location });
    expect(tokens.status, await tokens.clone().text()).toBe(200);
  });

  it('ignores parameters sent beside the request_uri (RFC 9126 §4, RFC 9101 §6.3): the pushed ones are used', async () => {
    const browser = await signedInBrowser(user);
    const { request_uri, state } = await pushed(confidential, { prompt: 'consent' });
    const other = await registerClient(ownerToken, { redirect_uris: ['https://other.example/cb'] });
    const extra = `&state=forged&redirect_uri=${encodeURIComponent(other.redirect_uris[0]!)}&scope=openid%20books:write&response_type=token`;
    const consent = await browser.get(authorizeByUri(confidential.client_id, request_uri, extra));
    expect(consent.status).toBe(200);
    const html = await consent.text();
    expect(html).not.toContain('Add books to your library');
    const location = await allow(browser, html);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('code')).toBeTruthy();
  });

  it('a signed-out browser signs in and comes back to the pushed request, already consumed (the request travels sealed as always)', async () => {
    const browser = new Browser();
    const { request_uri, verifier, state } = await pushed(publicClient, { prompt: 'consent' });
    const toLogin = await browser.get(authorizeByUri(publicClient.client_id, request_uri));
    expect(toLogin.status).toBe(302);
    const loginPath = toLogin.headers.get('Location')!;
    expect(loginPath).toMatch(/^\/login\?/);
    // Consumed at first use: a second browser cannot take it.
    await expectErrorPage(await new Browser().get(authorizeByUri(publicClient.client_id, request_uri)));
    const loginHtml = await (await browser.get(loginPath)).text();
    const signedIn = await browser.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    const consent = await browser.get(signedIn.headers.get('Location')!);
    expect(consent.status).toBe(200);
    const location = await allow(browser, await consent.text());
    expect(location.searchParams.get('state')).toBe(state);
    const tokens = await redeem(publicClient, {
      code: location.searchParams.get('code')!,
      verifier,
      redirectUri: REDIRECT_URI,
      state,
      location,
    });
    expect(tokens.status).toBe(200);
  });

  it('POST /oauth2/authorize takes the request_uri too (OIDC Core §3.1.2.1), and answers with 303', async () => {
    const browser = await signedInBrowser(user);
    const { request_uri, state } = await pushed(confidential, { prompt: 'consent' });
    const consent = await browser.post('/oauth2/authorize', { client_id: confidential.client_id, request_uri });
    expect(consent.status).toBe(200);
    const location = await allow(browser, await consent.text());
    expect(location.searchParams.get('state')).toBe(state);
    // Used once, by POST as by GET.
    await expectErrorPage(await browser.post('/oauth2/authorize', { client_id: confidential.client_id, request_uri }));
    // A plain request by POST is checked as by GET: require_pushed_authorization_requests holds, errors redirect with 303.
    const strict = await registerClient(ownerToken, { require_pushed_authorization_requests: true });
    const { fields } = await requestFields(strict);
    const refused = await browser.post('/oauth2/authorize', fields);
    expectErrorRedirect(refused, { status: 303, redirectUri: REDIRECT_URI, error: 'invalid_request', state: fields.state });
  });

  it('a malformed or unknown request_uri, or one without client_id, is an error page, never a redirect', async () => {
    const browser = await signedInBrowser(user);
    const made = `urn:ietf:params:oauth:request_uri:${'A'.repeat(43)}`;
    await expectErrorPage(await browser.get(authorizeByUri(confidential.client_id, made)));
    await expectErrorPage(await browser.get(authorizeByUri(confidential.client_id, 'https://evil.example/request.jwt')));
    const { request_uri } = await pushed(confidential);
    await expectErrorPage(await browser.get(`/oauth2/authorize?request_uri=${encodeURIComponent(request_uri)}`));
    // Not consumed by those: the client still uses it.
    expect((await browser.get(authorizeByUri(confidential.client_id, request_uri))).status).not.toBe(400);
  });
});

describe('require_pushed_authorization_requests', () => {
  it('a client registered with it must push: a plain request is invalid_request at its redirect URI, a pushed one works', async () => {
    const strict = await registerClient(ownerToken, { require_pushed_authorization_requests: true });
    expect(strict.require_pushed_authorization_requests).toBe(true);
    const browser = await signedInBrowser(user);
    const { fields } = await requestFields(strict, { prompt: 'consent' });
    const plain = await browser.get(`/oauth2/authorize?${new URLSearchParams(fields)}`);
    const url = expectErrorRedirect(plain, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_request', state: fields.state });
    expect(url.searchParams.get('error_description')).toMatch(/PAR|pushed/);
    const { request_uri } = await pushed(strict, { prompt: 'consent' });
    const consent = await browser.get(authorizeByUri(strict.client_id, request_uri));
    expect(consent.status).toBe(200);
  });

  it('defaults to false, and a non-boolean is invalid_client_metadata', async () => {
    const client = await registerClient(ownerToken);
    expect(client.require_pushed_authorization_requests).toBe(false);
    const response = await call('/oauth2/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ownerToken}` },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], require_pushed_authorization_requests: 'yes' }),
    });
    await expectJsonError(response, 400, 'invalid_client_metadata');
  });
});

describe('PAR metadata (RFC 9126 §5)', () => {
  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    '%s names the endpoint and does not require PAR',
    async (path) => {
      const metadata = (await (await call(path)).json()) as Record<string, unknown>;
      expect(metadata.pushed_authorization_request_endpoint).toBe(`${ISSUER}/oauth2/par`);
      expect(metadata.require_pushed_authorization_requests).toBe(false);
    },
  );
});

describe('round trips', () => {
  it('a push is two D1 round trips (client authentication, then the insert batch); using it with remembered consent adds none to the code flow', async () => {
    const client = await registerClient(ownerToken);
    const browser = await signedInBrowser(user);
    // A first approval, so consent is remembered for the counted request.
    const first = await pushed(client, { prompt: 'consent' });
    await allow(browser, await (await browser.get(authorizeByUri(client.client_id, first.request_uri))).text());

    const counts = newCounts({ keepSql: true });
    const counted = countingBindings(env, counts);
    const { fields } = await requestFields(client);
    const { client_id: _id, ...body } = fields;
    const response = await app.request(
      `${ISSUER}${PAR}`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body: new URLSearchParams(body).toString(),
      },
      counted,
    );
    expect(response.status).toBe(201);
    expect({ d1: counts.d1, kvGet: counts.kvGet, kvPut: counts.kvPut }, counts.sql?.join('\n')).toEqual({ d1: 2, kvGet: 0, kvPut: 0 });

    const { request_uri } = (await response.json()) as { request_uri: string };
    const before = counts.d1;
    const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const authorized = await app.request(
      `${ISSUER}${authorizeByUri(client.client_id, request_uri)}`,
      { headers: { Cookie: cookie } },
      counted,
    );
    expect(authorized.status).toBe(302);
    expect(new URL(authorized.headers.get('Location')!).searchParams.get('code')).toBeTruthy();
    // As a plain request: the lookup (session, client, grant, and here the consumption) and the approval.
    expect(counts.d1 - before, counts.sql?.join('\n')).toBe(2);
    expect(counts.sql?.at(before)).toBe('batch(4)');
  });
});

describe('hostile input', () => {
  it('any form body, as a public client or with a wrong secret, is 201 or a JSON 4xx, never a 5xx; only a 201 stores a row', async () => {
    const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    const names = [
      'client_id',
      'client_secret',
      'response_type',
      'redirect_uri',
      'scope',
      'state',
      'nonce',
      'code_challenge',
      'code_challenge_method',
      'prompt',
      'max_age',
      'resource',
      'request_uri',
      'request',
    ];
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("' OR 1=1 --", '<script>', '\u0000', 'https://evil.example/cb', 'S256', 'code', ''),
      fc.string({ minLength: 3000, maxLength: 6000 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...names), value), { maxLength: 10 }), fc.boolean(), async (pairs, withId) => {
        const body = new URLSearchParams(pairs);
        if (withId) body.set('client_id', client.client_id);
        const before = (await pushedRows(client.client_id)).length;
        const response = await call(PAR, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: body.toString(),
        });
        const text = await response.text();
        expect(response.status, text).toBeLessThan(500);
        if (response.status !== 201) {
          expect(response.status, text).toBeGreaterThanOrEqual(400);
          expect(JSON.parse(text)).toHaveProperty('error');
          expect((await pushedRows(client.client_id)).length).toBe(before);
        }
      }),
      { numRuns: 40, seed: 20261201, endOnFailure: true },
    );
  });
});
