// End to end in a real browser: Chromium (browser.mjs says which one), driven
// by playwright-core, against the real server (`npm start`'s script on a free
// 127.0.0.1 port with fresh state). Walks what a person does: sign up, open the
// demo SPA, sign in and consent, list and add books, revoke the app on
// /account, and see the SPA ask to sign in again. Screenshots of every open
// page go to test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, startTollgate } from '../scripts/local.mjs';
import { launchChromium } from './browser.mjs';

const SCREENSHOTS = path.join(ROOT, 'test-results', 'e2e');
const STEP_TIMEOUT_MS = 15_000;
// Startup time is the smoke test's business (30 s, scripts/smoke-start.mjs);
// here a machine busy with other test runs may take longer to get there.
const SERVER_START_DEADLINE_MS = 90_000;

let server;
let browser;

before(async () => {
  server = await startTollgate({ deadlineMs: SERVER_START_DEADLINE_MS });
  assert.ok(server.metadata, `the server did not start:\n${server.output().slice(-3000)}`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs the walk; on failure, saves a screenshot of every page before failing. */
async function withScreenshots(context, name, walk) {
  try {
    await walk();
  } catch (error) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [index, page] of context.pages().entries()) {
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${index}.png`), fullPage: true }).catch(() => {});
    }
    throw error;
  }
}

test('a person signs up, uses the demo SPA, revokes it, and the SPA asks to sign in again', async () => {
  const base = server.baseUrl;
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
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
  await context.close();
});
