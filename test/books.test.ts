import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Browser,
  bearer,
  call,
  createUser,
  expectJsonError,
  form,
  ISSUER,
  issueTokens,
  json,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  type TokenResponseBody,
  userToken,
} from './helpers';

const BOOKS = '/api/books';
const USERINFO = '/oauth2/userinfo';

/** The RFC 6750 §3 challenge, parsed into its auth-params. */
function challenge(response: Response): Record<string, string> {
  const header = response.headers.get('WWW-Authenticate') ?? '';
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header.matchAll(/([a-z_]+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]));
}

async function expectInvalidToken(response: Response): Promise<void> {
  const params = challenge(response);
  expect(params.realm).toBe('tollgate');
  expect(params.error).toBe('invalid_token');
  await expectJsonError(response, 401, 'invalid_token');
}

/** A JWT shaped exactly like a Tollgate access token, signed by a key Tollgate never made. */
async function forgeAccessToken(model: string, header: { kid: string; typ?: string }): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const claims = decodeJwt(model);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: header.typ ?? 'at+jwt', kid: header.kid }).sign(privateKey);
}

function base64urlJson(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

let ownerToken: string;
let client: RegisteredClient;
let alice: TestUser;
let aliceTokens: TokenResponseBody;
let readOnly: TokenResponseBody;
let bob: TestUser;
let aliceBrowser: Browser;
let bobTokens: TokenResponseBody;

beforeAll(async () => {
  const [owner, a, b] = await Promise.all([createUser(), createUser({ name: 'Alice Reader' }), createUser({ name: 'Bob Reader' })]);
  alice = a;
  bob = b;
  ownerToken = await userToken(owner);
  client = await registerClient(ownerToken);
  let bobBrowser: Browser;
  [aliceBrowser, bobBrowser] = await Promise.all([signedInBrowser(alice), signedInBrowser(bob)]);
  aliceTokens = await issueTokens(aliceBrowser, client, { scope: 'openid profile email books:read books:write' });
  readOnly = await issueTokens(aliceBrowser, await registerClient(ownerToken), { scope: 'openid books:read' });
  bobTokens = await issueTokens(bobBrowser, client, { scope: 'books:read books:write' });
});

describe('GET /api/books', () => {
  it('answers no Authorization with 401 and a bare challenge: realm, no error (RFC 6750 §3.1)', async () => {
    const response = await call(BOOKS);
    // RFC 9728 §5.1: the challenge names the books API's metadata.
    expect(response.headers.get('WWW-Authenticate')).toBe(
      // RFC 9449 §7.1: DPoP-bound tokens are taken too, with these proof algorithms.
      'Bearer realm="tollgate", resource_metadata="http://localhost:8787/.well-known/oauth-protected-resource/api/books", DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"',
    );
    await expectJsonError(response, 401, 'invalid_token');
  });

  it('answers a garbage token with 401 error="invalid_token"', async () => {
    await expectInvalidToken(await call(BOOKS, { headers: bearer('garbage') }));
    await expectInvalidToken(await call(BOOKS, { headers: bearer('a.b.c') }));
  });

  it('answers an Authorization header that is not Bearer with 401 error="invalid_token"', async () => {
    await expectInvalidToken(await call(BOOKS, { headers: { Authorization: `Basic ${btoa('a:b')}` } }));
    await expectInvalidToken(await call(BOOKS, { headers: { Authorization: 'Bearer two tokens' } }));
  });

  it('refuses a token signed by another key under Tollgate’s own kid', async () => {
    const kid = decodeProtectedHeader(aliceTokens.access_token).kid!;
    await expectInvalidToken(await call(BOOKS, { headers: bearer(await forgeAccessToken(aliceTokens.access_token, { kid })) }));
  });

  it('refuses a token signed by another key under an unknown kid', async () => {
    await expectInvalidToken(
      await call(BOOKS, { headers: bearer(await forgeAccessToken(aliceTokens.access_token, { kid: 'attacker-key' })) }),
    );
  });

  it('refuses an unsigned token (alg none)', async () => {
    const claims = decodeJwt(aliceTokens.access_token);
    const unsigned = `${base64urlJson({ alg: 'none', typ: 'at+jwt' })}.${base64urlJson(claims)}.`;
    await expectInvalidToken(await call(BOOKS, { headers: bearer(unsigned) }));
  });

  it('refuses a real token whose claims were changed', async () => {
    const [header, , signature] = readOnly.access_token.split('.');
    const widened = { ...decodeJwt(readOnly.access_token), scope: 'openid books:read books:write', sub: bob.id };
    await expectInvalidToken(await call(BOOKS, { headers: bearer(`${header}.${base64urlJson(widened)}.${signature}`) }));
  });

  it('refuses the user API token from /api/login (its own typ, another audience)', async () => {
    const token = await userToken(alice);
    expect(decodeProtectedHeader(token).typ).toBe('tollgate-user-api+jwt');
    await expectInvalidToken(await call(BOOKS, { headers: bearer(token) }));
  });

  it('refuses an ID token (typ JWT, audience the client)', async () => {
    await expectInvalidToken(await call(BOOKS, { headers: bearer(aliceTokens.id_token!) }));
  });

  it('lists only the token owner’s books: user A never sees user B’s', async () => {
    const bobBook = await json(BOOKS, { title: 'Bob’s Secret Diary', author: 'Bob' }, { headers: bearer(bobTokens.access_token) });
    expect(bobBook.status).toBe(201);
    const aliceBook = await json(BOOKS, { title: 'Persuasion', author: 'Jane Austen' }, { headers: bearer(aliceTokens.access_token) });
    expect(aliceBook.status).toBe(201);

    const aliceList = await call(BOOKS, { headers: bearer(aliceTokens.access_token) });
    expect(aliceList.status).toBe(200);
    const aliceText = await aliceList.text();
    expect(aliceText).not.toContain('Secret Diary');
    expect(JSON.parse(aliceText)).toContainEqual(expect.objectContaining({ title: 'Persuasion', author: 'Jane Austen' }));

    // Alice's read-only token, from another client, sees the same library.
    const viaReadOnly = (await (await call(BOOKS, { headers: bearer(readOnly.access_token) })).json()) as { title: string }[];
    expect(viaReadOnly.map((book) => book.title)).toContain('Persuasion');
    expect(viaReadOnly.map((book) => book.title)).not.toContain('Bob’s Secret Diary');

    const bobList = (await (await call(BOOKS, { headers: bearer(bobTokens.access_token) })).json()) as { title: string }[];
    expect(bobList.map((book) => book.title)).toContain('Bob’s Secret Diary');
    expect(bobList.map((book) => book.title)).not.toContain('Persuasion');
  });

  it('needs books:read: a token without it gets 403 insufficient_scope with scope="books:read"', async () => {
    const profileOnly = await issueTokens(aliceBrowser, await registerClient(ownerToken), { scope: 'openid profile' });
    const response = await call(BOOKS, { headers: bearer(profileOnly.access_token) });
    const params = challenge(response);
    expect(params).toMatchObject({ realm: 'tollgate', error: 'insufficient_scope', scope: 'books:read' });
    await expectJsonError(response, 403, 'insufficient_scope');
  });
});

describe('POST /api/books', () => {
  it('answers no Authorization with 401 and stores nothing', async () => {
    const response = await json(BOOKS, { title: 'Unseen', author: 'Nobody' });
    // RFC 9728 §5.1: the challenge names the books API's metadata.
    expect(response.headers.get('WWW-Authenticate')).toBe(
      // RFC 9449 §7.1: DPoP-bound tokens are taken too, with these proof algorithms.
      'Bearer realm="tollgate", resource_metadata="http://localhost:8787/.well-known/oauth-protected-resource/api/books", DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"',
    );
    await expectJsonError(response, 401, 'invalid_token');
  });

  it('needs books:write: 403 insufficient_scope with scope="books:write" in WWW-Authenticate, and nothing stored', async () => {
    const response = await json(BOOKS, { title: 'Not Allowed', author: 'Anyone' }, { headers: bearer(readOnly.access_token) });
    const params = challenge(response);
    expect(params).toMatchObject({ realm: 'tollgate', error: 'insufficient_scope', scope: 'books:write' });
    await expectJsonError(response, 403, 'insufficient_scope');
    const list = await (await call(BOOKS, { headers: bearer(readOnly.access_token) })).text();
    expect(list).not.toContain('Not Allowed');
  });

  it('answers 201 with the book it stored', async () => {
    const response = await json(BOOKS, { title: '  Middlemarch  ', author: 'George Eliot' }, { headers: bearer(bobTokens.access_token) });
    expect(response.status).toBe(201);
    const book = (await response.json()) as Record<string, unknown>;
    expect(book).toMatchObject({ title: 'Middlemarch', author: 'George Eliot' });
    expect(book.id).toEqual(expect.any(String));
    expect(book.created_at).toEqual(expect.any(Number));
    expect(book).not.toHaveProperty('user_id');
  });

  const badBodies: [string, unknown][] = [
    ['a missing title', { author: 'George Eliot' }],
    ['a missing author', { title: 'Middlemarch' }],
    ['an empty title', { title: '   ', author: 'George Eliot' }],
    ['a title of the wrong type', { title: 42, author: 'George Eliot' }],
    ['a title that is too long', { title: 't'.repeat(201), author: 'George Eliot' }],
    ['an array', [{ title: 'Middlemarch', author: 'George Eliot' }]],
    ['null', null],
  ];
  for (const [kind, body] of badBodies) {
    it(`refuses ${kind} with 400 invalid_request and stores nothing`, async () => {
      const before = await (await call(BOOKS, { headers: bearer(aliceTokens.access_token) })).text();
      await expectJsonError(await json(BOOKS, body, { headers: bearer(aliceTokens.access_token) }), 400, 'invalid_request');
      expect(await (await call(BOOKS, { headers: bearer(aliceTokens.access_token) })).text()).toBe(before);
    });
  }

  it('refuses malformed JSON with 400 invalid_request', async () => {
    const response = await call(BOOKS, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...bearer(aliceTokens.access_token) },
      body: '{"title": "Middlemarch", ',
    });
    await expectJsonError(response, 400, 'invalid_request');
  });

  it('refuses a form body with 415', async () => {
    const response = await form(BOOKS, { title: 'Middlemarch', author: 'George Eliot' }, bearer(aliceTokens.access_token));
    await expectJsonError(response, 415, 'invalid_request');
  });

  it('refuses a body over 64 KiB with 413', async () => {
    const response = await json(
      BOOKS,
      { title: 'Big', author: 'Big', notes: 'n'.repeat(70 * 1024) },
      { headers: bearer(aliceTokens.access_token) },
    );
    await expectJsonError(response, 413, 'invalid_request');
  });
});

describe('GET and POST /oauth2/userinfo', () => {
  it('returns sub, name with profile, and email with email, by GET and by POST', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await call(USERINFO, { method, headers: bearer(aliceTokens.access_token) });
      expect(response.status, method).toBe(200);
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      expect(await response.json()).toEqual({ sub: alice.id, name: 'Alice Reader', email: alice.email, email_verified: false });
    }
  });

  it('returns only sub for a token with openid alone', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await call(USERINFO, { method, headers: bearer(readOnly.access_token) });
      expect(response.status, method).toBe(200);
      expect(await response.json()).toEqual({ sub: alice.id });
    }
  });

  it('answers no token with 401 and a bare challenge', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await call(USERINFO, { method });
      expect(response.headers.get('WWW-Authenticate'), method).toBe(
        'Bearer realm="tollgate", DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"',
      );
      await expectJsonError(response, 401, 'invalid_token');
    }
  });

  it('answers a garbage token or a user API token with 401 invalid_token', async () => {
    await expectInvalidToken(await call(USERINFO, { headers: bearer('garbage') }));
    await expectInvalidToken(await call(USERINFO, { method: 'POST', headers: bearer(await userToken(bob)) }));
  });

  it('answers a token without openid with 403 insufficient_scope and scope="openid"', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await call(USERINFO, { method, headers: bearer(bobTokens.access_token) });
      expect(challenge(response)).toMatchObject({ error: 'insufficient_scope', scope: 'openid' });
      await expectJsonError(response, 403, 'insufficient_scope');
    }
  });

  it('names the token’s own user, never another', async () => {
    const response = await call(USERINFO, { headers: bearer(aliceTokens.access_token) });
    const claims = (await response.json()) as Record<string, unknown>;
    expect(claims.sub).not.toBe(bob.id);
    expect(decodeJwt(aliceTokens.access_token).sub).toBe(claims.sub);
    expect(decodeJwt(aliceTokens.access_token).iss).toBe(ISSUER);
  });
});
