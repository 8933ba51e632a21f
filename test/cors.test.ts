import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Authorization,
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  codeFields,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  pkce,
  postAsClient,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';

const TOKEN = '/oauth2/token';
const REVOKE = '/oauth2/revoke';
const INTROSPECT = '/oauth2/introspect';
const USERINFO = '/oauth2/userinfo';

/** A fresh https origin no other test has registered (storage may be shared between tests). */
function origin(prefix: string): string {
  return `https://${unique(prefix)}.example`;
}

function preflight(path: string, from: string, method = 'POST', headers = 'authorization, content-type'): Promise<Response> {
  return call(path, {
    method: 'OPTIONS',
    headers: { Origin: from, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': headers },
  });
}

/** A preflight answered for `from`: the origin echoed, POST/GET, Authorization and Content-Type, a max age. */
async function expectPreflightAllowed(response: Response, from: string, method = 'POST'): Promise<void> {
  expect(response.status).toBe(204);
  expect(response.headers.get('Access-Control-Allow-Origin')).toBe(from);
  expect(response.headers.get('Access-Control-Allow-Methods')?.split(/,\s*/)).toContain(method);
  const allowed = (response.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase().split(/,\s*/);
  expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
  expect(Number(response.headers.get('Access-Control-Max-Age'))).toBeGreaterThan(0);
  expect(response.headers.get('Vary') ?? '').toMatch(/\bOrigin\b/);
  expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull();
}

/** A preflight refused: no Access-Control-Allow-* at all, and no 500. */
function expectPreflightRefused(response: Response): void {
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  expect(response.headers.get('Access-Control-Allow-Methods')).toBeNull();
  expect(response.headers.get('Access-Control-Allow-Headers')).toBeNull();
}

/** The code exchange of `authorization` as `client`, sent by a browser at `from`. */
function exchange(client: RegisteredClient, authorization: Authorization, from: string): Promise<Response> {
  return postAsClient(TOKEN, client, codeFields(authorization), { Origin: from });
}

async function expectTokens(response: Response): Promise<{ access_token: string; refresh_token?: string }> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as { access_token: string; refresh_token?: string };
}

let ownerToken: string;
let browser: Browser;
/** The SPA: a public client whose redirect URI is on `spaOrigin`. */
let spa: RegisteredClient;
let spaOrigin: string;
/** A second public client, on its own origin. */
let otherSpa: RegisteredClient;
let otherSpaOrigin: string;
/** A confidential client (a server-side app) with a redirect URI on `webOrigin`. */
let web: RegisteredClient;
let webOrigin: string;
/** An origin nobody registered. */
let evilOrigin: string;

beforeAll(async () => {
  const [owner, user] = await Promise.all([createUser(), createUser({ name: 'CORS Reader' })]);
  ownerToken = await userToken(owner);
  browser = await signedInBrowser(user);
  [spaOrigin, otherSpaOrigin, webOrigin, evilOrigin] = [origin('spa'), origin('otherspa'), origin('web'), origin('evil')];
  spa = await registerClient(ownerToken, {
    client_name: 'Single Page Reader',
    redirect_uris: [`${spaOrigin}/cb`],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  otherSpa = await registerClient(ownerToken, { redirect_uris: [`${otherSpaOrigin}/cb`], token_endpoint_auth_method: 'none' });
  web = await registerClient(ownerToken, { redirect_uris: [`${webOrigin}/cb`] });
});

describe('CORS at POST /oauth2/token', () => {
  it('answers a preflight from a registered public client’s origin with 204 and the CORS headers', async () => {
    await expectPreflightAllowed(await preflight(TOKEN, spaOrigin), spaOrigin);
  });

  it('also answers the literal https://spa.example of a public client registered with https://spa.example/cb', async () => {
    await registerClient(ownerToken, { redirect_uris: ['https://spa.example/cb'], token_endpoint_auth_method: 'none' });
    await expectPreflightAllowed(await preflight(TOKEN, 'https://spa.example'), 'https://spa.example');
  });

  it('gives a preflight from an unregistered origin no Access-Control-Allow-Origin', async () => {
    expectPreflightRefused(await preflight(TOKEN, evilOrigin));
  });

  it('gives a preflight from a registered origin with another port, scheme or a subdomain no Access-Control-Allow-Origin', async () => {
    const host = new URL(spaOrigin).host;
    for (const near of [`${spaOrigin}:8443`, `http://${host}`, `https://www.${host}`, `${spaOrigin}/`]) {
      expectPreflightRefused(await preflight(TOKEN, near));
    }
  });

  it('never allows a confidential client’s redirect origin, on the preflight or on its real requests', async () => {
    expectPreflightRefused(await preflight(TOKEN, webOrigin));
    const authorization = await authorizeWithConsent(browser, web, { scope: 'books:read' });
    const response = await exchange(web, authorization, webOrigin);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    await expectTokens(response);
  });

  it('names the SPA’s origin on its real code exchange, with Vary: Origin', async () => {
    const authorization = await authorizeWithConsent(browser, spa, { scope: 'openid books:read' });
    const response = await exchange(spa, authorization, spaOrigin);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    expect(response.headers.get('Vary') ?? '').toMatch(/\bOrigin\b/);
    expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull();
    await expectTokens(response);
  });

  it('names the SPA’s origin on its refresh, and on its own error responses so the app can read them', async () => {
    const authorization = await authorizeWithConsent(browser, spa, { scope: 'openid offline_access books:read' });
    const tokens = await expectTokens(await exchange(spa, authorization, spaOrigin));
    const refreshed = await postAsClient(
      TOKEN,
      spa,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
      { Origin: spaOrigin },
    );
    expect(refreshed.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    await expectTokens(refreshed);

    const replay = await exchange(spa, authorization, spaOrigin);
    expect(replay.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    await expectJsonError(replay, 400, 'invalid_grant');
  });

  it('gives the same exchange from an unregistered origin no Access-Control-Allow-Origin', async () => {
    const authorization = await authorizeWithConsent(browser, spa, { scope: 'books:read' });
    const response = await exchange(spa, authorization, evilOrigin);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    expect(response.headers.get('Vary') ?? '').toMatch(/\bOrigin\b/);
    await expectTokens(response);
  });

  it('gives public client Y’s request no Access-Control-Allow-Origin for an origin only public client X registered', async () => {
    const authorization = await authorizeWithConsent(browser, otherSpa, { scope: 'books:read' });
    const response = await exchange(otherSpa, authorization, spaOrigin);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    await expectTokens(response);
  });

  it('stops allowing an SPA’s origin once the SPA is deleted', async () => {
    const from = origin('gone');
    const doomed = await registerClient(ownerToken, { redirect_uris: [`${from}/cb`], token_endpoint_auth_method: 'none' });
    await expectPreflightAllowed(await preflight(TOKEN, from), from);
    const deleted = await call(`/api/clients/${doomed.client_id}`, { method: 'DELETE', headers: bearer(ownerToken) });
    expect(deleted.status).toBe(204);
    expectPreflightRefused(await preflight(TOKEN, from));
  });

  it('gives a failed client authentication no Access-Control-Allow-Origin', async () => {
    const response = await form(TOKEN, { grant_type: 'authorization_code', client_id: unique('ghost') }, { Origin: spaOrigin });
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    await expectJsonError(response, 401, 'invalid_client');
  });
});

describe('CORS at POST /oauth2/revoke', () => {
  it('answers a preflight from the SPA’s origin, and none from an unregistered one', async () => {
    await expectPreflightAllowed(await preflight(REVOKE, spaOrigin), spaOrigin);
    expectPreflightRefused(await preflight(REVOKE, evilOrigin));
    expectPreflightRefused(await preflight(REVOKE, webOrigin));
  });

  it('names the SPA’s origin when the SPA revokes its token from there, and no origin from elsewhere', async () => {
    const first = await expectTokens(await exchange(spa, await authorizeWithConsent(browser, spa, { scope: 'books:read' }), spaOrigin));
    const fromSpa = await postAsClient(REVOKE, spa, { token: first.access_token }, { Origin: spaOrigin });
    expect(fromSpa.status).toBe(200);
    expect(fromSpa.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    await expectJsonError(await call('/api/books', { headers: bearer(first.access_token) }), 401, 'invalid_token');

    const second = await expectTokens(await exchange(spa, await authorizeWithConsent(browser, spa, { scope: 'books:read' }), spaOrigin));
    const fromEvil = await postAsClient(REVOKE, spa, { token: second.access_token }, { Origin: evilOrigin });
    expect(fromEvil.status).toBe(200);
    expect(fromEvil.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('CORS at POST /oauth2/introspect', () => {
  it('answers a preflight from a registered public-client origin, and none from an unregistered one', async () => {
    await expectPreflightAllowed(await preflight(INTROSPECT, spaOrigin), spaOrigin);
    expectPreflightRefused(await preflight(INTROSPECT, evilOrigin));
  });

  it('names no origin on a confidential client’s introspection, nor on a public client’s refused one', async () => {
    const tokens = await expectTokens(await exchange(web, await authorizeWithConsent(browser, web, { scope: 'books:read' }), webOrigin));
    const confidential = await form(
      INTROSPECT,
      { token: tokens.access_token },
      { Authorization: basic(web.client_id, web.client_secret!), Origin: webOrigin },
    );
    expect(confidential.status).toBe(200);
    expect(confidential.headers.get('Access-Control-Allow-Origin')).toBeNull();
    expect(await confidential.json()).toMatchObject({ active: true });

    const refused = await form(INTROSPECT, { token: tokens.access_token, client_id: spa.client_id }, { Origin: spaOrigin });
    expect(refused.headers.get('Access-Control-Allow-Origin')).toBeNull();
    await expectJsonError(refused, 401, 'invalid_client');
  });
});

describe('CORS at /oauth2/userinfo', () => {
  let spaToken: string;

  beforeAll(async () => {
    spaToken = (await expectTokens(await exchange(spa, await authorizeWithConsent(browser, spa, { scope: 'openid profile' }), spaOrigin)))
      .access_token;
  });

  it('answers a preflight for GET from the SPA’s origin, and none from an unregistered one', async () => {
    await expectPreflightAllowed(await preflight(USERINFO, spaOrigin, 'GET', 'authorization'), spaOrigin, 'GET');
    expectPreflightRefused(await preflight(USERINFO, evilOrigin, 'GET', 'authorization'));
  });

  it('names the SPA’s origin when its access token is used from there, by GET and POST', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await call(USERINFO, { method, headers: { ...bearer(spaToken), Origin: spaOrigin } });
      expect(response.status, method).toBe(200);
      expect(response.headers.get('Access-Control-Allow-Origin'), method).toBe(spaOrigin);
      expect(response.headers.get('Vary') ?? '').toMatch(/\bOrigin\b/);
      expect(await response.json()).toMatchObject({ name: 'CORS Reader' });
    }
  });

  it('names no origin for the SPA’s token used from an unregistered origin or another SPA’s origin', async () => {
    for (const from of [evilOrigin, otherSpaOrigin]) {
      const response = await call(USERINFO, { headers: { ...bearer(spaToken), Origin: from } });
      expect(response.status).toBe(200);
      expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    }
  });

  it('names no origin for a confidential client’s token from its redirect origin', async () => {
    const tokens = await expectTokens(await exchange(web, await authorizeWithConsent(browser, web, { scope: 'openid' }), webOrigin));
    const response = await call(USERINFO, { headers: { ...bearer(tokens.access_token), Origin: webOrigin } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('CORS at the metadata documents and JWKS', () => {
  const documents = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json'];

  for (const path of documents) {
    it(`answers ${path} with Access-Control-Allow-Origin * from any origin, and without one`, async () => {
      for (const headers of [{ Origin: evilOrigin }, { Origin: spaOrigin }, {}] as Record<string, string>[]) {
        const response = await call(path, { headers });
        expect(response.status).toBe(200);
        expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
        expect(await response.json()).toBeTypeOf('object');
      }
    });

    it(`answers a preflight to ${path} from any origin with Access-Control-Allow-Origin *`, async () => {
      const response = await preflight(path, evilOrigin, 'GET', '');
      expect(response.status).toBe(204);
      expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
      expect(response.headers.get('Access-Control-Allow-Methods')?.split(/,\s*/)).toContain('GET');
    });
  }
});

describe('no CORS at /oauth2/authorize and /login', () => {
  it('never gives the authorization request (GET) an Access-Control-Allow-Origin, even for the SPA’s own origin', async () => {
    const { challenge } = await pkce();
    const url = authorizeUrl({
      response_type: 'code',
      client_id: spa.client_id,
      redirect_uri: `${spaOrigin}/cb`,
      scope: 'openid',
      state: unique('state'),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    const response = await browser.fetch(url, { headers: { Origin: spaOrigin } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Single Page Reader');
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('never gives the consent decision (POST) an Access-Control-Allow-Origin', async () => {
    const response = await browser.post('/oauth2/authorize', { request_id: 'x' }, { Origin: spaOrigin });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('never answers a preflight to the authorize endpoint or /login with CORS headers', async () => {
    for (const path of ['/oauth2/authorize', '/login', '/account', '/signup']) {
      for (const method of ['GET', 'POST']) expectPreflightRefused(await preflight(path, spaOrigin, method));
    }
  });

  it('never gives /login an Access-Control-Allow-Origin', async () => {
    const response = await call('/login', { headers: { Origin: spaOrigin } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('CORS preflights never fail with a 500', () => {
  const paths = [
    TOKEN,
    REVOKE,
    INTROSPECT,
    USERINFO,
    '/.well-known/jwks.json',
    '/.well-known/openid-configuration',
    '/oauth2/authorize',
    '/oauth2/register',
    '/api/books',
  ];
  const odd = [
    'null',
    'not a url',
    'https://',
    `https://${'a'.repeat(4000)}.example`,
    "https://x.example' or '1'='1",
    'https://spa.example:99999',
    '*',
  ];

  for (const path of paths) {
    it(`answers odd and missing origins at ${path} below 500, allowing none of them (but * on public documents)`, async () => {
      const pub = path.startsWith('/.well-known/');
      for (const from of odd) {
        const response = await preflight(path, from);
        expect(response.status, from.slice(0, 40)).toBeLessThan(500);
        expect(response.headers.get('Access-Control-Allow-Origin'), from.slice(0, 40)).toBe(pub ? '*' : null);
      }
      const bare = await call(path, { method: 'OPTIONS', headers: { 'Access-Control-Request-Method': 'POST' } });
      expect(bare.status).toBeLessThan(500);
      const plain = await call(path, { method: 'OPTIONS' });
      expect(plain.status).toBeLessThan(500);
    });
  }
});

describe('CORS at /mcp (a resource browser MCP clients discover on their own)', () => {
  const MCP = '/mcp';
  const INITIALIZE = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cors', version: '1' } },
  });
  function post(from: string, headers: Record<string, string> = {}): Promise<Response> {
    return call(MCP, {
      method: 'POST',
      headers: { Origin: from, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: INITIALIZE,
    });
  }

  it('answers a preflight from any origin, allowing the MCP protocol version header: a new client has not registered yet', async () => {
    const response = await preflight(MCP, evilOrigin, 'POST', 'authorization, content-type, mcp-protocol-version');
    await expectPreflightAllowed(response, evilOrigin);
    expect((response.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase()).toContain('mcp-protocol-version');
  });

  it('lets any origin read a 401 and its WWW-Authenticate, which names the resource metadata (RFC 9728 §5.1)', async () => {
    const response = await post(evilOrigin);
    expect(response.status).toBe(401);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(response.headers.get('Access-Control-Expose-Headers')).toBe('WWW-Authenticate, DPoP-Nonce');
    expect(response.headers.get('WWW-Authenticate')).toContain('resource_metadata=');
  });

  it('names only the token’s client origin on an answer to a token, never another origin', async () => {
    const tokens = await expectTokens(
      await exchange(spa, await authorizeWithConsent(browser, spa, { scope: 'books:read', resource: [`${ISSUER}${MCP}`] }), spaOrigin),
    );
    const fromSpa = await post(spaOrigin, bearer(tokens.access_token));
    expect(fromSpa.status).toBe(200);
    expect(fromSpa.headers.get('Access-Control-Allow-Origin')).toBe(spaOrigin);
    const fromElsewhere = await post(evilOrigin, bearer(tokens.access_token));
    expect(fromElsewhere.status).toBe(200);
    expect(fromElsewhere.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});
