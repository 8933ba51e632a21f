import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { exportJWK, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_ALGS, EXPIRED_ROW_RETENTION } from '../src/config';
import worker from '../src/index';
import {
  authorizeWithConsent,
  basic,
  bearer,
  call,
  codeFields,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  ISSUER,
  json,
  redeem,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';
import {
  ASSERTION_TYPE,
  assertion,
  clientKey,
  fetchesOf,
  postWithAssertion,
  publishJwks,
  registerKeyClient,
} from './private-key-jwt-support';

// private_key_jwt (RFC 7523 §2.2 and §3, OIDC Core §9): registration of a
// client's public keys (jwks or jwks_uri), authentication with a signed
// assertion at the token, revocation, introspection and PAR endpoints, and
// the daily prune of spent assertions. Attacks: test/security/client-assertion-*.

/** A client_credentials request's own fields (this grant needs a scope: the clients register none). */
const CC = { grant_type: 'client_credentials', scope: 'books:read' };

let ownerToken: string;

beforeAll(async () => {
  ownerToken = await userToken(await createUser());
});

function register(metadata: Record<string, unknown>, token = ownerToken): Promise<Response> {
  return json(
    '/oauth2/register',
    { client_name: 'Key Client', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', ...metadata },
    { headers: bearer(token) },
  );
}

async function assertionRows(clientId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from client_assertions where client_id = ?').bind(clientId).first<{ n: number }>();
  return row!.n;
}

describe('registration of a private_key_jwt client (RFC 7591 §2)', () => {
  it.each(CLIENT_ASSERTION_ALGS)('takes a %s public key by value, returns it, and issues no client_secret', async (alg) => {
    const key = await clientKey(alg);
    const response = await register({ jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: alg });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(body.client_secret).toBeUndefined();
    expect(body.jwks).toEqual({ keys: [key.publicJwk] });
    expect(body.token_endpoint_auth_signing_alg).toBe(alg);
    const row = await env.DB.prepare('select secret_hash, jwks from clients where id = ?')
      .bind(body.client_id)
      .first<Record<string, string>>();
    expect(row!.secret_hash).toBeNull();
    // The registration access token still reads it back (RFC 7592).
    const read = await call(body.registration_client_uri as string, { headers: bearer(body.registration_access_token as string) });
    expect(((await read.json()) as Record<string, unknown>).jwks).toEqual({ keys: [key.publicJwk] });
  });

  it('takes a jwks_uri on a public https host', async () => {
    const response = await register({ jwks_uri: 'https://client.example/jwks/anything' });
    expect(response.status, await response.clone().text()).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.jwks_uri).toBe('https://client.example/jwks/anything');
    expect(body.client_secret).toBeUndefined();
  });

  it('refuses bad key material, saying why, and stores nothing', async () => {
    const key = await clientKey('ES256');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    // jose will not make a key this small; Web Crypto will.
    const weakRsa = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['neither jwks nor jwks_uri', {}, /exactly one of jwks and jwks_uri/],
      ['both', { jwks: { keys: [key.publicJwk] }, jwks_uri: 'https://client.example/jwks/x' }, /exactly one/],
      ['a private key', { jwks: { keys: [privateJwk] } }, /private member "d"/],
      ['a symmetric key', { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0' }] } }, /private member "k"/],
      ['an RSA key under 2048 bits', { jwks: { keys: [await exportJWK(weakRsa.publicKey)] } }, /under 2048 bits/],
      ['an unsupported curve', { jwks: { keys: [{ ...key.publicJwk, crv: 'P-384', alg: undefined }] } }, /not an RSA, EC P-256/],
      ['an encryption key only', { jwks: { keys: [{ ...key.publicJwk, use: 'enc' }] } }, /no signing key/],
      ['no keys array', { jwks: { key: [] } }, /no "keys" array/],
      ['too many keys', { jwks: { keys: Array.from({ length: 11 }, (_, i) => ({ ...key.publicJwk, kid: `k${i}` })) } }, /more than 10/],
      ['two keys with one kid', { jwks: { keys: [key.publicJwk, key.publicJwk] } }, /share the kid/],
      ['a broken point', { jwks: { keys: [{ ...key.publicJwk, x: 'AAAA' }] } }, /not a valid public key/],
      ['an alg no key fits', { jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: 'RS256' }, /no key in jwks/],
      ['an http jwks_uri', { jwks_uri: 'http://client.example/jwks' }, /https/],
      ['a jwks_uri on a private address', { jwks_uri: 'https://10.0.0.1/jwks' }, /private/],
      ['a jwks_uri on a loopback name', { jwks_uri: 'https://localhost/jwks' }, /inside a network/],
      ['a jwks_uri on another port', { jwks_uri: 'https://client.example:8443/jwks' }, /443/],
    ];
    for (const [what, metadata, description] of cases) {
      const name = unique('refused');
      const body = await expectJsonError(await register({ client_name: name, ...metadata }), 400, 'invalid_client_metadata');
      expect(body.error_description, what).toMatch(description);
      const stored = await env.DB.prepare('select count(*) as n from clients where name = ?').bind(name).first<{ n: number }>();
      expect(stored!.n, what).toBe(0);
    }
  });

  it('refuses an assertion algorithm that is not asymmetric', async () => {
    for (const alg of ['none', 'HS256']) {
      const key = await clientKey('ES256');
      await expectJsonError(
        await register({ jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: alg }),
        400,
        'invalid_client_metadata',
      );
    }
  });

  it('keys are kept for private_key_jwt only, and an anonymous registration cannot ask for it', async () => {
    const key = await clientKey();
    // RFC 7591 §2 keys for other uses are ignored for a secret client: not kept, never a second way in.
    const withSecret = await register({ token_endpoint_auth_method: 'client_secret_basic', jwks: { keys: [key.publicJwk] } });
    expect(withSecret.status).toBe(201);
    const secretClient = (await withSecret.json()) as Record<string, string>;
    expect(secretClient.jwks).toBeUndefined();
    const signed = await assertion(key, secretClient.client_id!);
    await expectJsonError(await postWithAssertion('/oauth2/token', signed, CC), 401, 'invalid_client');
    const anonymous = await json('/oauth2/register', {
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.publicJwk] },
    });
    expect(anonymous.status).toBe(401);
  });

  it('RFC 7592 PUT: turning to private_key_jwt drops the secret; turning back issues a new one', async () => {
    const created = (await (
      await json(
        '/oauth2/register',
        { client_name: 'Switcher', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
        { headers: bearer(ownerToken) },
      )
    ).json()) as Record<string, string>;
    const key = await clientKey();
    const put = (metadata: Record<string, unknown>) =>
      call(created.registration_client_uri!, {
        method: 'PUT',
        headers: { ...bearer(created.registration_access_token!), 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: created.client_id, client_name: 'Switcher', grant_types: ['client_credentials'], ...metadata }),
      });
    const toKeys = await put({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    expect(toKeys.status, await toKeys.clone().text()).toBe(200);
    expect(((await toKeys.json()) as Record<string, unknown>).client_secret).toBeUndefined();
    // The old secret no longer works; the key does.
    const oldSecret = await form('/oauth2/token', CC, { Authorization: basic(created.client_id!, created.client_secret!) });
    await expectJsonError(oldSecret, 401, 'invalid_client');
    const withKey = await postWithAssertion('/oauth2/token', await assertion(key, created.client_id!), CC);
    expect(withKey.status, await withKey.clone().text()).toBe(200);
    // And back: a new secret, and the key no longer works.
    const back = (await (await put({ token_endpoint_auth_method: 'client_secret_basic' })).json()) as Record<string, string>;
    expect(back.client_secret).toMatch(/^[\w-]{43}$/);
    expect(back.jwks).toBeUndefined();
    const keyAgain = await postWithAssertion('/oauth2/token', await assertion(key, created.client_id!), CC);
    await expectJsonError(keyAgain, 401, 'invalid_client');
  });
});

describe('metadata (RFC 8414 §2)', () => {
  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    '%s lists private_key_jwt and its algorithms',
    async (path) => {
      const metadata = (await (await call(path)).json()) as Record<string, string[]>;
      for (const endpoint of ['token', 'revocation', 'introspection']) {
        expect(metadata[`${endpoint}_endpoint_auth_methods_supported`]).toContain('private_key_jwt');
        expect(metadata[`${endpoint}_endpoint_auth_signing_alg_values_supported`]).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']);
      }
    },
  );
});

describe('authentication with a client assertion', () => {
  it('client_credentials: a token for the client, one assertion row spent', async () => {
    const key = await clientKey('EdDSA');
    const client = await registerKeyClient(ownerToken, [key]);
    const response = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), {
      grant_type: 'client_credentials',
      scope: 'books:read',
      client_id: client.client_id,
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    expect(decodeJwt(JSON.parse(text).access_token).payload.sub).toBe(client.client_id);
    expect(await assertionRows(client.client_id)).toBe(1);
  });

  it.each([
    ['the issuer', ISSUER],
    ['the token endpoint', `${ISSUER}/oauth2/token`],
    ['a one-element list with the issuer', [ISSUER]],
  ])('aud may be %s', async (_, aud) => {
    const key = await clientKey('PS256');
    const client = await registerKeyClient(ownerToken, [key]);
    const response = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id, { aud }), CC);
    expect(response.status, await response.text()).toBe(200);
  });

  it('the code flow with refresh: each token request with its own assertion', async () => {
    const user = await createUser();
    const key = await clientKey('RS256');
    const client = await registerKeyClient(ownerToken, [key]);
    const browser = await signedInBrowser(user);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const redeemed = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), codeFields(authorization));
    const tokens = JSON.parse(await redeemed.text()) as Record<string, string>;
    expect(redeemed.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.refresh_token).toBeDefined();
    const refreshed = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
    });
    expect(refreshed.status, await refreshed.text()).toBe(200);
    // Without an assertion (as a public client would) it is refused.
    await expectJsonError(await redeem(client, authorization), 401, 'invalid_client');
  });

  it('revocation, introspection and PAR take an assertion aimed at the issuer or at themselves', async () => {
    const key = await clientKey('ES256');
    const client = await registerKeyClient(ownerToken, [key]);
    const issued = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), CC);
    const { access_token: accessToken } = (await issued.json()) as { access_token: string };

    const introspected = await postWithAssertion(
      '/oauth2/introspect',
      await assertion(key, client.client_id, { aud: `${ISSUER}/oauth2/introspect` }),
      { token: accessToken },
    );
    expect(introspected.status).toBe(200);
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);

    const pushed = await postWithAssertion('/oauth2/par', await assertion(key, client.client_id), {
      response_type: 'code',
      redirect_uri: client.redirect_uris[0]!,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    expect(pushed.status, await pushed.clone().text()).toBe(201);

    const revoked = await postWithAssertion('/oauth2/revoke', await assertion(key, client.client_id, { aud: `${ISSUER}/oauth2/revoke` }), {
      token: accessToken,
    });
    expect(revoked.status).toBe(200);
    expect(await assertionRows(client.client_id)).toBe(4);
  });

  it('an assertion aimed at another of our endpoints than the one called is refused', async () => {
    const key = await clientKey();
    const client = await registerKeyClient(ownerToken, [key]);
    const aimedAtRevoke = await assertion(key, client.client_id, { aud: `${ISSUER}/oauth2/revoke` });
    await expectJsonError(await postWithAssertion('/oauth2/introspect', aimedAtRevoke, { token: 'x' }), 401, 'invalid_client');
  });

  it('a private_key_jwt client cannot use a secret, nor a secret client an assertion', async () => {
    const key = await clientKey();
    const keyClient = await registerKeyClient(ownerToken, [key]);
    // No secret exists; a guessed one is refused like any wrong secret.
    await expectJsonError(await form('/oauth2/token', CC, { Authorization: basic(keyClient.client_id, 'guess') }), 401, 'invalid_client');
    const secretClient = (await (
      await json('/oauth2/register', { client_name: 'Secret', grant_types: ['client_credentials'] }, { headers: bearer(ownerToken) })
    ).json()) as Record<string, string>;
    const signed = await assertion(key, secretClient.client_id!);
    await expectJsonError(await postWithAssertion('/oauth2/token', signed, CC), 401, 'invalid_client');
    // Two methods at once is a malformed request (RFC 6749 §2.3).
    const both = await form(
      '/oauth2/token',
      {
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(key, keyClient.client_id),
      },
      { Authorization: basic(secretClient.client_id!, secretClient.client_secret!) },
    );
    await expectJsonError(both, 400, 'invalid_request');
  });

  it('malformed assertion parameters: a clear error, never a 500', async () => {
    const key = await clientKey();
    const client = await registerKeyClient(ownerToken, [key]);
    const good = await assertion(key, client.client_id);
    const cases: [Record<string, string>, number, string][] = [
      [{ client_assertion: good }, 400, 'invalid_request'],
      [{ client_assertion_type: ASSERTION_TYPE }, 400, 'invalid_request'],
      [
        { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: good },
        401,
        'invalid_client',
      ],
      [{ client_assertion_type: ASSERTION_TYPE, client_assertion: 'not-a-jwt' }, 401, 'invalid_client'],
      [{ client_assertion_type: ASSERTION_TYPE, client_assertion: 'a.b.c' }, 401, 'invalid_client'],
      [{ client_assertion_type: ASSERTION_TYPE, client_assertion: 'x'.repeat(5000) }, 400, 'invalid_request'],
    ];
    for (const [fields, status, error] of cases) {
      await expectJsonError(await form('/oauth2/token', { ...CC, ...fields }), status, error);
    }
    expect(await assertionRows(client.client_id)).toBe(0);
  });
});

describe('keys from jwks_uri', () => {
  it('fetched once and kept by Cache-Control; a new kid fetches them again', async () => {
    const first = await clientKey('ES256');
    const url = await publishJwks([first]);
    const client = await registerKeyClient(ownerToken, [], { jwks_uri: url });
    expect(await fetchesOf(url)).toBe(0);
    for (let i = 0; i < 2; i++) {
      const response = await postWithAssertion('/oauth2/token', await assertion(first, client.client_id), CC);
      expect(response.status, await response.text()).toBe(200);
    }
    expect(await fetchesOf(url)).toBe(1);

    // The client rotates: the cached copy lacks the new kid, so it is fetched again (once; the rate is per minute).
    const second = await clientKey('ES256');
    await publishJwks([second], url.split('/').pop());
    await env.DB.prepare("update clients set jwks_uri_cache = json_set(jwks_uri_cache, '$.fetchedAt', 0) where id = ?")
      .bind(client.client_id)
      .run();
    const rotated = await postWithAssertion('/oauth2/token', await assertion(second, client.client_id), CC);
    expect(rotated.status, await rotated.text()).toBe(200);
    expect(await fetchesOf(url)).toBe(2);
    // A made-up kid right after is not worth another fetch.
    const madeUp = await clientKey('ES256');
    const refused = await postWithAssertion('/oauth2/token', await assertion(madeUp, client.client_id), CC);
    await expectJsonError(refused, 401, 'invalid_client');
    expect(await fetchesOf(url)).toBe(2);
  });

  it('a jwks_uri that cannot be had fails closed: invalid_client', async () => {
    const key = await clientKey();
    const client = await registerKeyClient(ownerToken, [], { jwks_uri: `https://client.example/jwks/${unique('missing')}` });
    const body = await expectJsonError(
      await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), CC),
      401,
      'invalid_client',
    );
    expect(body.error_description).toMatch(/HTTP 404/);
  });
});

describe('the daily prune', () => {
  it('deletes spent assertions past their expiry and keeps the others', async () => {
    const key = await clientKey();
    const client = await registerKeyClient(ownerToken, [key]);
    for (let i = 0; i < 2; i++) {
      const response = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), CC);
      expect(response.status).toBe(200);
    }
    const past = Math.floor(Date.now() / 1000) - EXPIRED_ROW_RETENTION - 60;
    await env.DB.prepare(
      'update client_assertions set expires_at = ? where rowid = (select min(rowid) from client_assertions where client_id = ?)',
    )
      .bind(past, client.client_id)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 * * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await assertionRows(client.client_id)).toBe(1);
  });
});
