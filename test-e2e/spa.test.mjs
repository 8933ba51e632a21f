// End to end in a real browser: Chromium (browser.mjs says which one), driven
// by playwright-core, against the real server (`npm start`'s script on a free
// 127.0.0.1 port with fresh state). Walks what a person does: sign up, open the
// demo SPA, sign in and consent, list and add books, revoke the app on
// /account, and see the SPA ask to sign in again. Along the way it checks the
// SPA's tokens are DPoP-bound (RFC 9449): the authorization request names the
// key (dpop_jkt), the token response says token_type DPoP, every books call
// carries `Authorization: DPoP` and a `DPoP` proof, the key in IndexedDB is
// not extractable, and the access token replayed from Node as a Bearer token
// is refused. Screenshots of every open page go to test-results/e2e/ when a
// step fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newContext, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

let server;
let browser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser());
});

after(() => stopServerAndBrowser({ server, browser }));

test('a person signs up, uses the demo SPA, revokes it, and the SPA asks to sign in again', async () => {
  const base = server.baseUrl;
  const context = await newContext(browser);
  const page = await context.newPage();
  // What the SPA sends and gets, observed from outside the page.
  const booksCalls = [];
  const tokenResponses = [];
  let authorizeUrl = null;
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/books') booksCalls.push({ method: request.method(), headers: request.headers() });
    if (url.pathname === '/oauth2/authorize' && request.isNavigationRequest() && !authorizeUrl) authorizeUrl = url;
  });
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === '/oauth2/token') {
      tokenResponses.push(response.json().then((body) => ({ status: response.status(), headers: response.headers(), body })));
    }
  });
  await withScreenshots(context, 'spa', async () => {
    // Sign up on /signup, by the labels SPEC names.
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name').fill('Edna Reader');
    await page.getByLabel('Email').fill(`edna-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account`);

    // Open the SPA and sign in: PKCE, consent, back with a code, tokens by fetch.
    await page.goto(`${base}/demo`);
    await page.getByRole('button', { name: 'Sign in with Tollgate' }).click();
    await page.waitForURL((url) => url.pathname === '/oauth2/authorize');
    assert.match(await page.content(), /Demo single-page app/);
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL(`${base}/demo`);
    await page.locator('#who', { hasText: 'Edna Reader' }).waitFor();
    await page.getByText('No books yet.').waitFor();

    // List and add books through the books API.
    await page.getByLabel('Title').fill('Middlemarch');
    await page.getByLabel('Author').fill('George Eliot');
    await page.getByRole('button', { name: 'Add book' }).click();
    await page.getByRole('listitem').filter({ hasText: 'Middlemarch by George Eliot' }).waitFor();
    assert.equal(await page.getByText('No books yet.').isVisible(), false);

    // DPoP (RFC 9449). The code was bound to the key (§10: dpop_jkt, a SHA-256 JWK thumbprint).
    assert.match(authorizeUrl?.searchParams.get('dpop_jkt') ?? '', /^[A-Za-z0-9_-]{43}$/);
    // The token endpoint asked for its nonce first (§8: 400 use_dpop_nonce with DPoP-Nonce), then issued DPoP tokens.
    const answers = await Promise.all(tokenResponses);
    const nonceAsked = answers.find((answer) => answer.status === 400);
    assert.equal(nonceAsked?.body.error, 'use_dpop_nonce');
    assert.ok(nonceAsked.headers['dpop-nonce'], 'the token endpoint gives a DPoP-Nonce');
    const issued = answers.find((answer) => answer.status === 200);
    assert.equal(issued?.body.token_type, 'DPoP');
    const accessToken = issued.body.access_token;
    const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
    assert.equal(claims.cnf?.jkt, authorizeUrl.searchParams.get('dpop_jkt'), 'the access token is bound to the key the code was');
    // Every books call (list and add) carried the token as DPoP and a proof for that call.
    assert.ok(booksCalls.some((call) => call.method === 'GET') && booksCalls.some((call) => call.method === 'POST'));
    for (const call of booksCalls) {
      assert.match(call.headers.authorization ?? '', /^DPoP [\w-]+\.[\w-]+\.[\w-]+$/);
      const proof = call.headers.dpop ?? '';
      const [header, payload] = proof
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString() || 'null'));
      assert.equal(header?.typ, 'dpop+jwt');
      assert.equal(header?.alg, 'ES256');
      assert.equal(header?.jwk?.d, undefined, 'the proof carries the public key only');
      assert.equal(payload?.htm, call.method);
      assert.equal(payload?.htu, `${base}/api/books`);
      assert.ok(payload?.ath && payload?.jti && payload?.iat);
    }
    // The private key in IndexedDB is usable but cannot be exported.
    const stored = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('tollgate-demo-dpop');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('keys').objectStore('keys').get('dpop-es256');
            get.onsuccess = () =>
              resolve({ privateExtractable: get.result.privateKey.extractable, algorithm: get.result.privateKey.algorithm.namedCurve });
          };
        }),
    );
    assert.deepEqual(stored, { privateExtractable: false, algorithm: 'P-256' });
    // The token alone is worth nothing: replayed from Node as a Bearer token, or as DPoP without a proof, it is refused.
    const asBearer = await fetch(`${base}/api/books`, { headers: { Authorization: `Bearer ${accessToken}` } });
    assert.equal(asBearer.status, 401);
    const withoutProof = await fetch(`${base}/api/books`, { headers: { Authorization: `DPoP ${accessToken}` } });
    assert.equal(withoutProof.status, 401);

    // Revoke the app on /account, in another tab.
    const account = await context.newPage();
    await account.goto(`${base}/account`);
    await account.getByRole('button', { name: 'Revoke Demo single-page app' }).click();
    await account.waitForURL(`${base}/account`);
    assert.equal(await account.getByRole('button', { name: /^Revoke/ }).count(), 0);

    // The SPA's next call fails (401, then the refresh fails too): sign in again.
    await page.bringToFront();
    await page.getByRole('button', { name: 'Reload books' }).click();
    await page.getByText('Your session with Tollgate has ended. Sign in again.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign in with Tollgate' }).isVisible(), true);
    assert.equal(await page.locator('#signed-in').isVisible(), false);
  });
});
