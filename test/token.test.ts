import { env } from 'cloudflare:test';
import { createLocalJWKSet, decodeProtectedHeader, decodeJwt as jwtClaims, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  b64url,
  basic,
  call,
  codeFields,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  json,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  type TestUser,
  unique,
  userToken,
} from './helpers';

const TOKEN = '/oauth2/token';

/** A raw urlencoded body, for requests `form()` cannot express (repeated or malformed fields). */
function rawForm(body: string | Uint8Array, headers: Record<string, string> = {}) {
  return call(TOKEN, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body });
}

async function jwks() {
  return createLocalJWKSet(await (await call('/.well-known/jwks.json')).json());
}

async function expectTokens(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  return JSON.parse(text) as Record<string, unknown>;
}

let ownerToken: string;
let user: TestUser;
let browser: Browser;

beforeAll(async () => {
  ownerToken = await userToken(await createUser());
  user = await createUser({ name: 'Token Tester' });
  browser = await signedInBrowser(user);
});

describe('POST /oauth2/token (authorization_code)', () => {
  describe('success', () => {
    it('issues tokens to a client_secret_basic client, with an RFC 9068 access token and an ID token', async () => {
      const client = await registerClient(ownerToken);
      const nonce = unique('nonce');
      const authorization = await authorizeWithConsent(browser, client, { scope: 'openid profile books:read', nonce });
      const before = Math.floor(Date.now() / 1000);
      const tokens = await expectTokens(await redeem(client, authorization));
      expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'openid profile books:read' });
      expect(tokens).not.toHaveProperty('refresh_token');

      const accessToken = tokens.access_token as string;
      const header = decodeProtectedHeader(accessToken);
      const payload = jwtClaims(accessToken);
      expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
      expect(header.kid).toEqual(expect.any(String));
      expect(payload).toMatchObject({
        iss: ISSUER,
        sub: user.id,
        aud: `${ISSUER}/api/books`,
        client_id: client.client_id,
        scope: 'openid profile books:read',
      });
      expect(payload.jti).toEqual(expect.any(String));
      expect(payload.iat).toBeGreaterThanOrEqual(before - 1);
      expect((payload.exp as number) - (payload.iat as number)).toBe(600);
      // The signature verifies against the published key with the right typ (RFC 9068 §4).
      await jwtVerify(accessToken, await jwks(), { issuer: ISSUER, audience: `${ISSUER}/api/books`, typ: 'at+jwt', algorithms: ['ES256'] });

      const idToken = tokens.id_token as string;
      const { payload: claims } = await jwtVerify(idToken, await jwks(), {
        issuer: ISSUER,
        audience: client.client_id,
        algorithms: ['ES256'],
      });
      expect(claims.sub).toBe(user.id);
      expect(claims.aud).toBe(client.client_id);
      expect(claims.nonce).toBe(nonce);
      expect(claims.auth_time).toEqual(expect.any(Number));
      expect(claims.auth_time as number).toBeLessThanOrEqual(claims.iat!);
      // OIDC Core §3.1.3.6: at_hash = base64url(left half of SHA-256(access_token)).
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
      expect(claims.at_hash).toBe(b64url(digest.slice(0, 16)));
    });

    it('issues tokens to a client_secret_post client', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
      expect(client.client_secret).toEqual(expect.any(String));
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      const response = await form(TOKEN, {
        ...codeFields(authorization),
        client_id: client.client_id,
        client_secret: client.client_secret!,
      });
      const tokens = await expectTokens(response);
      expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'books:read' });
      expect(jwtClaims(tokens.access_token as string).client_id).toBe(client.client_id);
    });

    it('issues tokens to a public client (token_endpoint_auth_method none) on PKCE alone', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
      expect(client.client_secret).toBeUndefined();
      const nonce = unique('nonce');
      const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read', nonce });
      const tokens = await expectTokens(await form(TOKEN, { ...codeFields(authorization), client_id: client.client_id }));
      expect(jwtClaims(tokens.id_token as string)).toMatchObject({ aud: client.client_id, nonce });
    });

    it('gives no ID token when openid was not granted', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read books:write', nonce: 'n1' });
      const tokens = await expectTokens(await redeem(client, authorization));
      expect(tokens).not.toHaveProperty('id_token');
      expect(tokens.scope).toBe('books:read books:write');
    });

    it('leaves nonce out of the ID token when the request had none', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client, { scope: 'openid' });
      const tokens = await expectTokens(await redeem(client, authorization));
      expect(jwtClaims(tokens.id_token as string)).not.toHaveProperty('nonce');
    });
  });

  describe('the code', () => {
    it('is single-use: a second redemption is invalid_grant', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectTokens(await redeem(client, authorization));
      await expectJsonError(await redeem(client, authorization), 400, 'invalid_grant');
    });

    it('revokes the tokens issued for it when it is replayed (RFC 6749 §4.1.2)', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      const tokens = await expectTokens(await redeem(client, authorization));
      const auth = { Authorization: `Bearer ${tokens.access_token as string}` };
      expect((await call('/api/books', { headers: auth })).status).toBe(200);
      // A replay means the code leaked: whoever holds the first tokens may be the attacker.
      await expectJsonError(await redeem(client, authorization), 400, 'invalid_grant');
      await expectJsonError(await call('/api/books', { headers: auth }), 401, 'invalid_token');
    });

    it('expires: a code past its lifetime is invalid_grant', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await env.DB.prepare('update codes set expires_at = expires_at - 3600 where client_id = ?').bind(client.client_id).run();
      await expectJsonError(await redeem(client, authorization), 400, 'invalid_grant');
    });

    it('is redeemed once when two redemptions race', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const responses = await Promise.all([redeem(client, authorization), redeem(client, authorization)]);
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 400]);
      const loser = responses.find((response) => response.status === 400)!;
      await expectJsonError(loser, 400, 'invalid_grant');
    });

    it('is not consumed by a wrong code_verifier: invalid_grant, then the right verifier still works', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const wrong = b64url(crypto.getRandomValues(new Uint8Array(32)));
      await expectJsonError(await redeem(client, authorization, { code_verifier: wrong }), 400, 'invalid_grant');
      await expectTokens(await redeem(client, authorization));
    });

    it('needs a code_verifier: invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const { code_verifier: _omitted, ...fields } = codeFields(authorization);
      const response = await form(TOKEN, fields, { Authorization: basic(client.client_id, client.client_secret!) });
      await expectJsonError(response, 400, 'invalid_request');
      await expectTokens(await redeem(client, authorization));
    });

    it('refuses a code_verifier that is not 43–128 unreserved characters: invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await redeem(client, authorization, { code_verifier: 'short' }), 400, 'invalid_request');
    });

    it('must come with the redirect_uri it was issued for: invalid_grant', async () => {
      const client = await registerClient(ownerToken, {
        redirect_uris: ['https://app.example.com/callback', 'https://app.example.com/other'],
      });
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await redeem(client, authorization, { redirect_uri: 'https://app.example.com/other' }), 400, 'invalid_grant');
    });

    it('needs a redirect_uri: invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const { redirect_uri: _omitted, ...fields } = codeFields(authorization);
      const response = await form(TOKEN, fields, { Authorization: basic(client.client_id, client.client_secret!) });
      await expectJsonError(response, 400, 'invalid_request');
    });

    it('belongs to the client it was issued to: another client gets invalid_grant', async () => {
      const clientA = await registerClient(ownerToken);
      const clientB = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, clientA);
      await expectJsonError(await redeem(clientB, authorization), 400, 'invalid_grant');
      await expectTokens(await redeem(clientA, authorization));
    });

    it('refuses a made-up code: invalid_grant', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(
        await redeem(client, authorization, { code: b64url(crypto.getRandomValues(new Uint8Array(32))) }),
        400,
        'invalid_grant',
      );
    });
  });

  describe('client authentication', () => {
    it('refuses a wrong secret via Basic with 401 invalid_client and WWW-Authenticate', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(TOKEN, codeFields(authorization), { Authorization: basic(client.client_id, 'not-the-secret') });
      expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic realm="tollgate"/);
      await expectJsonError(response, 401, 'invalid_client');
      await expectTokens(await redeem(client, authorization));
    });

    it('refuses a wrong secret via client_secret_post with 401 invalid_client', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'client_secret_post' });
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(TOKEN, { ...codeFields(authorization), client_id: client.client_id, client_secret: 'wrong' });
      await expectJsonError(response, 401, 'invalid_client');
    });

    it('refuses an unknown client via Basic with 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(TOKEN, codeFields(authorization), { Authorization: basic(unique('ghost'), 'secret') });
      await expectJsonError(response, 401, 'invalid_client');
    });

    it('refuses an unknown client via the body with 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await form(TOKEN, { ...codeFields(authorization), client_id: unique('ghost') }), 401, 'invalid_client');
      await expectJsonError(
        await form(TOKEN, { ...codeFields(authorization), client_id: unique('ghost'), client_secret: 'secret' }),
        401,
        'invalid_client',
      );
    });

    it('refuses Basic credentials plus client_secret in the body: invalid_request (RFC 6749 §2.3)', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(
        TOKEN,
        { ...codeFields(authorization), client_secret: client.client_secret! },
        {
          Authorization: basic(client.client_id, client.client_secret!),
        },
      );
      await expectJsonError(response, 400, 'invalid_request');
    });

    it('refuses a confidential client that sends no secret: 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await form(TOKEN, { ...codeFields(authorization), client_id: client.client_id }), 401, 'invalid_client');
      await expectTokens(await redeem(client, authorization));
    });

    it('refuses a request with no client identification at all: 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await form(TOKEN, codeFields(authorization)), 401, 'invalid_client');
    });

    it('refuses a client_secret_basic client that uses client_secret_post: 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(TOKEN, {
        ...codeFields(authorization),
        client_id: client.client_id,
        client_secret: client.client_secret!,
      });
      await expectJsonError(response, 401, 'invalid_client');
    });

    it('refuses a public client that sends a secret: 401 invalid_client', async () => {
      const client = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(TOKEN, { ...codeFields(authorization), client_id: client.client_id, client_secret: 'anything' });
      await expectJsonError(response, 401, 'invalid_client');
    });

    it('refuses a malformed Basic header: 401 invalid_client', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await form(TOKEN, codeFields(authorization), { Authorization: 'Basic !!!' }), 401, 'invalid_client');
      await expectJsonError(
        await form(TOKEN, codeFields(authorization), { Authorization: `Basic ${btoa('no-colon')}` }),
        401,
        'invalid_client',
      );
    });

    it('refuses Basic credentials whose client_id differs from the body’s: invalid_request', async () => {
      const client = await registerClient(ownerToken);
      const authorization = await authorizeWithConsent(browser, client);
      const response = await form(
        TOKEN,
        { ...codeFields(authorization), client_id: unique('other') },
        {
          Authorization: basic(client.client_id, client.client_secret!),
        },
      );
      await expectJsonError(response, 400, 'invalid_request');
    });
  });

  describe('the request', () => {
    let client: RegisteredClient;
    let auth: Record<string, string>;
    beforeAll(async () => {
      client = await registerClient(ownerToken);
      auth = { Authorization: basic(client.client_id, client.client_secret!) };
    });

    it('refuses an unsupported grant_type: unsupported_grant_type', async () => {
      await expectJsonError(
        await form(TOKEN, { grant_type: 'password', username: 'a', password: 'b' }, auth),
        400,
        'unsupported_grant_type',
      );
      await expectJsonError(
        await form(TOKEN, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' }, auth),
        400,
        'unsupported_grant_type',
      );
    });

    it('refuses a missing grant_type: invalid_request', async () => {
      await expectJsonError(
        await form(TOKEN, { code: 'x', redirect_uri: 'https://app.example.com/callback' }, auth),
        400,
        'invalid_request',
      );
    });

    it('refuses a repeated code: invalid_request, and the code survives', async () => {
      const authorization = await authorizeWithConsent(browser, client);
      const body = `${new URLSearchParams(codeFields(authorization))}&code=${authorization.code}`;
      await expectJsonError(await rawForm(body, auth), 400, 'invalid_request');
      await expectTokens(await redeem(client, authorization));
    });

    it('refuses a repeated grant_type: invalid_request', async () => {
      const authorization = await authorizeWithConsent(browser, client);
      const body = `${new URLSearchParams(codeFields(authorization))}&grant_type=authorization_code`;
      await expectJsonError(await rawForm(body, auth), 400, 'invalid_request');
    });

    it('refuses a JSON body with 415', async () => {
      const authorization = await authorizeWithConsent(browser, client);
      await expectJsonError(await json(TOKEN, codeFields(authorization), { headers: auth }), 415, 'invalid_request');
      await expectTokens(await redeem(client, authorization));
    });

    it('refuses a body without a Content-Type with 415', async () => {
      const response = await call(TOKEN, { method: 'POST', headers: auth, body: 'grant_type=authorization_code' });
      await expectJsonError(response, 415, 'invalid_request');
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const response = await form(TOKEN, { grant_type: 'authorization_code', code: 'a'.repeat(70 * 1024) }, auth);
      await expectJsonError(response, 413, 'invalid_request');
    });

    it('refuses a body over 64 KiB sent without Content-Length with 413', async () => {
      const bytes = new TextEncoder().encode(`grant_type=authorization_code&code=${'a'.repeat(70 * 1024)}`);
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
          controller.close();
        },
      });
      const response = await rawForm(stream as unknown as Uint8Array, auth);
      await expectJsonError(response, 413, 'invalid_request');
    });

    const malformed: [string, string | Uint8Array][] = [
      ['an empty body', ''],
      ['bad percent-encoding', 'grant_type=authorization_code&code=%E0%A4%A&redirect_uri=%zz&code_verifier=%'],
      ['fields without values', '&&=&grant_type&code'],
      ['binary bytes', new Uint8Array([0xff, 0xfe, 0x00, 0x3d, 0x26, 0xc3, 0x28, 0x80])],
      ['a parameter that is too long', `grant_type=authorization_code&code=x&redirect_uri=y&code_verifier=z&extra=${'e'.repeat(5000)}`],
    ];
    for (const [kind, body] of malformed) {
      it(`answers ${kind} with a JSON 400, never a 500`, async () => {
        const response = await rawForm(body, auth);
        const text = await response.text();
        expect(response.status, text).toBe(400);
        expect(response.headers.get('Cache-Control')).toBe('no-store');
        const parsed = JSON.parse(text) as { error: string };
        expect(['invalid_request', 'invalid_grant']).toContain(parsed.error);
      });
    }

    it('answers GET with a JSON 404, not a token', async () => {
      const response = await call(`${TOKEN}?grant_type=authorization_code`, { headers: auth });
      await expectJsonError(response, 404, 'not_found');
    });
  });
});
