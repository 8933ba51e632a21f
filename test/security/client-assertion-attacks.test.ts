import { env } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  bearer,
  codeFields,
  createUser,
  expectJsonError,
  ISSUER,
  json,
  type RegisteredClient,
  signedInBrowser,
  unique,
  userToken,
} from '../helpers';
import {
  assertion,
  type ClientKey,
  clientKey,
  fetchesOf,
  type JwksServing,
  postWithAssertion,
  publishJwks,
  registerKeyClient,
} from '../private-key-jwt-support';

// Attacks on private_key_jwt client authentication (RFC 7523 §3, RFC 9700
// §2.5 and §4.x, RFC 8725): every one is 401 invalid_client and spends
// nothing (no assertion row, no code).

const CC = { grant_type: 'client_credentials', scope: 'books:read' };
// Failed authentications count against the client (20 a minute, then 429):
// describes that fail many times use clients of their own.
let ownerToken: string;
let key: ClientKey;
let clientId: string;

beforeAll(async () => {
  ownerToken = await userToken(await createUser());
  key = await clientKey('ES256');
  clientId = (await registerKeyClient(ownerToken, [key])).client_id;
});

async function rows(id: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from client_assertions where client_id = ?').bind(id).first<{ n: number }>();
  return row!.n;
}

async function refused(clientAssertion: string, fields: Record<string, string> = CC, path = '/oauth2/token'): Promise<string> {
  const body = await expectJsonError(await postWithAssertion(path, clientAssertion, fields), 401, 'invalid_client');
  return String(body.error_description);
}

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

describe('assertion replay (RFC 7523 §3 item 7: jti accepted once)', () => {
  it('the same assertion a second time is refused', async () => {
    const once = await assertion(key, clientId);
    expect((await postWithAssertion('/oauth2/token', once, CC)).status).toBe(200);
    const before = await rows(clientId);
    expect(await refused(once)).toMatch(/used before/);
    expect(await rows(clientId)).toBe(before);
  });

  it('two requests racing with one assertion: exactly one wins', async () => {
    const once = await assertion(key, clientId);
    const answers = await Promise.all([1, 2, 3].map(() => postWithAssertion('/oauth2/token', once, CC)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401]);
  });

  it('an assertion spent at another endpoint does not redeem a code, and the code stays good', async () => {
    const user = await createUser();
    const client = await registerKeyClient(ownerToken, [key]);
    const authorization = await authorizeWithConsent(await signedInBrowser(user), client, { scope: 'openid' });
    const spent = await assertion(key, client.client_id);
    expect((await postWithAssertion('/oauth2/revoke', spent, { token: 'anything' })).status).toBe(200);
    const code = codeFields(authorization);
    await refused(spent, code);
    const fresh = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), code);
    expect(fresh.status, await fresh.text()).toBe(200);
  });

  // Every endpoint that authenticates a client spends the assertion through the same
  // single-use record (spendClientAssertion): spent at one, it is refused at itself and at
  // every other. Each row has its own client, so the failures stay under the per-client limit.
  const spendingEndpoints: [string, (client: RegisteredClient) => Record<string, string>, number][] = [
    ['/oauth2/revoke', () => ({ token: 'anything' }), 200],
    ['/oauth2/introspect', () => ({ token: 'anything' }), 200],
    [
      '/oauth2/par',
      (client) => ({
        response_type: 'code',
        redirect_uri: client.redirect_uris[0]!,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
      201,
    ],
  ];

  it.each(spendingEndpoints)(
    'an assertion spent at %s is refused there again and at every other endpoint',
    async (path, fields, status) => {
      const client = await registerKeyClient(ownerToken, [key]);
      const once = await assertion(key, client.client_id);
      const spent = await postWithAssertion(path, once, fields(client));
      expect(spent.status, await spent.clone().text()).toBe(status);
      const before = await rows(client.client_id);
      expect(before).toBe(1);
      for (const [other, otherFields] of [...spendingEndpoints, ['/oauth2/token', () => CC] as const]) {
        expect(await refused(once, otherFields(client), other), other).toMatch(/used before/);
      }
      expect(await rows(client.client_id)).toBe(before);
    },
  );

  it('the same jti in another client’s assertion is that client’s own (jti is unique per issuer)', async () => {
    const other = await registerKeyClient(ownerToken, [key]);
    const jti = unique('shared-jti');
    expect((await postWithAssertion('/oauth2/token', await assertion(key, clientId, { jti }), CC)).status).toBe(200);
    expect((await postWithAssertion('/oauth2/token', await assertion(key, other.client_id, { jti }), CC)).status).toBe(200);
  });
});

describe('claims (RFC 7523 §3)', () => {
  it('an assertion for another audience is refused', async () => {
    const before = await rows(clientId);
    expect(await refused(await assertion(key, clientId, { aud: 'https://other-as.example' }))).toMatch(/aud/);
    // Several audiences: any one of them could replay it here.
    expect(await refused(await assertion(key, clientId, { aud: [ISSUER, 'https://other-as.example'] }))).toMatch(/aud/);
    // Our issuer's name on another host is not our issuer.
    await refused(await assertion(key, clientId, { aud: 'https://evil.example/oauth2/token' }));
    await refused(await assertion(key, clientId, { aud: undefined }));
    expect(await rows(clientId)).toBe(before);
  });

  it('expired, too long-lived, from the future, or without exp or jti: refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const before = await rows(clientId);
    expect(await refused(await assertion(key, clientId, { iat: now - 600, exp: now - 120 }))).toMatch(/expired/);
    expect(await refused(await assertion(key, clientId, { exp: now + 3600 }))).toMatch(/exp/);
    expect(await refused(await assertion(key, clientId, { iat: now - 250, exp: now + 250 }))).toMatch(/longer than/);
    expect(await refused(await assertion(key, clientId, { iat: now + 90, exp: now + 150 }))).toMatch(/iat/);
    expect(await refused(await assertion(key, clientId, { nbf: now + 600 }))).toMatch(/nbf/);
    expect(await refused(await assertion(key, clientId, { exp: undefined }))).toMatch(/exp/);
    expect(await refused(await assertion(key, clientId, { jti: undefined }))).toMatch(/jti/);
    expect(await refused(await assertion(key, clientId, { jti: 'j'.repeat(300) }))).toMatch(/jti/);
    expect(await rows(clientId)).toBe(before);
  });

  it('iss other than sub is refused', async () => {
    expect(await refused(await assertion(key, clientId, { iss: 'someone-else' }))).toMatch(/iss and sub/);
  });
});

describe('signatures (RFC 8725 §2.1, §3.1)', () => {
  let signer: string;
  beforeAll(async () => {
    signer = (await registerKeyClient(ownerToken, [key])).client_id;
  });

  it('a key that is not the client’s, even under its kid, is refused', async () => {
    const stranger = await clientKey('ES256');
    expect(await refused(await assertion({ ...stranger, kid: key.kid }, signer))).toMatch(/signature/);
    await refused(await assertion(stranger, signer));
  });

  it('alg none is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64url(JSON.stringify({ alg: 'none', kid: key.kid }))}.${b64url(
      JSON.stringify({ iss: signer, sub: signer, aud: ISSUER, iat: now, exp: now + 60, jti: unique('j') }),
    )}.`;
    await refused(unsigned);
  });

  it('HS256 "signed" with the client’s public key as the secret is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const secret of [JSON.stringify(key.publicJwk), String(key.publicJwk.x)]) {
      const forged = await new SignJWT({ iss: signer, sub: signer, aud: ISSUER, iat: now, exp: now + 60, jti: unique('j') })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .sign(new TextEncoder().encode(secret));
      expect(await refused(forged)).toMatch(/signed with RS256, PS256, ES256, EdDSA, Ed25519/);
    }
  });

  it('an algorithm the client pinned (token_endpoint_auth_signing_alg) is the only one taken', async () => {
    const ec = await clientKey('ES256');
    const rsa = await clientKey('RS256');
    const pinned = await registerKeyClient(ownerToken, [ec, rsa], { token_endpoint_auth_signing_alg: 'ES256' });
    expect((await postWithAssertion('/oauth2/token', await assertion(ec, pinned.client_id), CC)).status).toBe(200);
    await refused(await assertion(rsa, pinned.client_id));
  });
});

describe('another client', () => {
  it('an assertion naming another client, signed with this client’s key, is refused', async () => {
    const mine = await clientKey('ES256');
    await registerKeyClient(ownerToken, [mine]);
    const victim = await registerKeyClient(ownerToken, [key]);
    // The victim's keys do not include `mine`: signing "as" that client fails.
    await refused(await assertion(mine, victim.client_id));
  });

  it('client_id naming one client beside an assertion for another is refused', async () => {
    const [one, other] = [await registerKeyClient(ownerToken, [key]), await registerKeyClient(ownerToken, [key])];
    const body = await refused(await assertion(key, one.client_id), { ...CC, client_id: other.client_id });
    expect(body).toMatch(/client_id does not match/);
  });
});

describe('jwks_uri and the network (SSRF, RFC 9700 §4.x, SECURITY.md)', () => {
  it('is refused at registration when it names a private or special-use address', async () => {
    for (const uri of ['https://127.0.0.1/jwks', 'https://169.254.169.254/latest', 'https://[::1]/jwks', 'https://intranet.corp/jwks']) {
      const answer = await json(
        '/oauth2/register',
        { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri },
        { headers: bearer(ownerToken) },
      );
      await expectJsonError(answer, 400, 'invalid_client_metadata');
    }
  });

  it('is not fetched at use when the row names a private address (checked again before every fetch)', async () => {
    const client = await registerKeyClient(ownerToken, [], { jwks_uri: `https://client.example/jwks/${unique('later')}` });
    await env.DB.prepare("update clients set jwks_uri = 'https://10.1.2.3/jwks' where id = ?").bind(client.client_id).run();
    expect(await refused(await assertion(key, client.client_id))).toMatch(/jwks_uri host 10\.1\.2\.3/);
    expect(await fetchesOf('https://10.1.2.3/jwks')).toBe(0);
  });

  /** The keys the client's row keeps from its jwks_uri (clients.jwks_uri_cache), or null. */
  async function cachedKeys(id: string): Promise<string | null> {
    const row = await env.DB.prepare('select jwks_uri_cache from clients where id = ?').bind(id).first<{ jwks_uri_cache: string | null }>();
    return row!.jwks_uri_cache;
  }

  // The outbound limits of the guarded fetch (src/lib/guarded-fetch.ts): the set the host serves is a good
  // one each time, with the very key that signs, so only the limit named can refuse it. Sizes and times
  // against CLIENT_JWKS_MAX_BYTES (16 KiB) and CLIENT_JWKS_FETCH_TIMEOUT (3 s).
  it.each<[JwksServing, string, RegExp]>([
    ['oversize', 'a body over the byte limit (Content-Length says so)', /larger than 16384 bytes/],
    ['oversize-stream', 'a body over the byte limit, streamed with no Content-Length', /larger than 16384 bytes/],
    ['slow', 'headers later than the time limit', /did not answer within 3 seconds/],
    ['slow-body', 'a body that ends later than the time limit', /did not answer within 3 seconds/],
    ['redirect', 'a 302 redirect (not followed)', /redirect, which is not followed/],
    ['html', 'a text/html answer', /is not JSON/],
  ])('is refused when it serves %s: %s; nothing is kept', async (serve, _what, reason) => {
    const url = await publishJwks([key], unique(`hostile-${serve}`), {}, serve);
    const client = await registerKeyClient(ownerToken, [], { jwks_uri: url });
    const started = Date.now();
    expect(await refused(await assertion(key, client.client_id))).toMatch(reason);
    // Given up at the limit, not when the host finally answered (5 s).
    if (serve.startsWith('slow')) expect(Date.now() - started).toBeLessThan(4900);
    expect(await fetchesOf(url)).toBe(1);
    expect(await fetchesOf(`${url}-moved`)).toBe(0);
    expect(await cachedKeys(client.client_id)).toBeNull();
    expect(await rows(client.client_id)).toBe(0);
  });

  it('the same set served plainly is taken (the hostile cases above fail only for their limit)', async () => {
    const url = await publishJwks([key], unique('plain'));
    const client = await registerKeyClient(ownerToken, [], { jwks_uri: url });
    const answer = await postWithAssertion('/oauth2/token', await assertion(key, client.client_id), CC);
    expect(answer.status, await answer.text()).toBe(200);
    expect(await cachedKeys(client.client_id)).not.toBeNull();
  });
});
