// End to end in a real browser (Chromium via playwright-core, browser.mjs):
// the developer section of /account (issue 15 item 6). A person signs up,
// registers a confidential app on /account for the client_credentials grant,
// and the secret the page shows once gets a token from the token endpoint
// (from Node, as the app's server would). They rotate the secret on the app's
// page: the old secret is refused at once (401 invalid_client) and the new
// one works. Screenshots of every open page go to test-results/e2e/ when a
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

/** A client_credentials token request with client_secret_basic (RFC 6749 §2.3.1, §4.4), from Node. */
function clientCredentials(clientId, secret) {
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
  return fetch(server.metadata.token_endpoint, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'books:read' }),
  });
}

test('a person registers an app on /account, uses its secret, rotates it, and the old secret is refused', async () => {
  const base = server.baseUrl;
  const context = await newContext(browser);
  const page = await context.newPage();
  await withScreenshots(context, 'developer', async () => {
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name').fill('Dev Eloper');
    await page.getByLabel('Email').fill(`dev-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account`);

    // Register an app: confidential, client_credentials only, books:read.
    await page.getByLabel('App name').fill('Nightly Sync');
    await page.getByLabel(/^Confidential/).check();
    await page.getByLabel(/^Authorization code/).uncheck();
    await page.getByLabel(/^Client credentials/).check();
    await page.getByLabel(/^books:read/).check();
    await page.getByRole('button', { name: 'Register an app' }).click();
    await page.getByRole('heading', { name: 'App registered' }).waitFor();
    const clientId = await page.getByLabel('Client ID').inputValue();
    const firstSecret = await page.getByLabel('Client secret').inputValue();
    assert.match(firstSecret, /^[A-Za-z0-9_-]{43}$/);

    // The secret works at the token endpoint.
    const first = await clientCredentials(clientId, firstSecret);
    assert.equal(first.status, 200, await first.clone().text());
    assert.equal((await first.json()).token_type, 'Bearer');

    // Listed on /account; rotate its secret on its own page.
    await page.goto(`${base}/account`);
    await page.getByRole('link', { name: 'Manage Nightly Sync' }).click();
    await page.getByRole('heading', { name: 'Manage Nightly Sync' }).waitFor();
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('heading', { name: 'New client secret' }).waitFor();
    const secondSecret = await page.getByLabel('Client secret').inputValue();
    assert.match(secondSecret, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(secondSecret, firstSecret);

    // The old secret stops working at once; the new one works.
    const old = await clientCredentials(clientId, firstSecret);
    assert.equal(old.status, 401);
    assert.equal((await old.json()).error, 'invalid_client');
    const fresh = await clientCredentials(clientId, secondSecret);
    assert.equal(fresh.status, 200, await fresh.clone().text());

    // The page never showed the secret again.
    await page.goto(`${base}/account`);
    assert.equal((await page.content()).includes(secondSecret), false);
  });
});
