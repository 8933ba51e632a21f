// End to end, two-factor sign-in (TOTP, RFC 6238) as a person meets it, in
// Chromium against the real server (`npm start`'s script on a free 127.0.0.1
// port with fresh state): sign up, press Set up two-factor on /account, read
// the key the page shows, confirm with a code computed from it (as an
// authenticator app would, with @oslojs/otp), sign out, sign in with the
// password and a fresh code, and land on /account. Screenshots go to
// test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeBase32IgnorePadding } from '@oslojs/encoding';
import { generateHOTP } from '@oslojs/otp';
import { newContext, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

// Migrations and the first wrangler build are slow on a busy machine.
const SERVER_START_DEADLINE_MS = 240_000;

let server;
let browser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser({ deadlineMs: SERVER_START_DEADLINE_MS }));
});

after(() => stopServerAndBrowser({ server, browser }));

/** The time step now (X = 30 s). */
const stepNow = () => Math.floor(Date.now() / 30_000);

test('set up two-factor from the key on /account, sign out, sign in with the password and a computed code', async () => {
  const base = server.baseUrl;
  const context = await newContext(browser);
  const page = await context.newPage();
  await withScreenshots(context, 'totp', async () => {
    const email = `katherine-${Date.now()}@example.com`;
    const password = 'a long enough password';
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name', { exact: true }).fill('Katherine Johnson');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Create account', exact: true }).click();
    await page.waitForURL(`${base}/account`);

    await page.getByRole('button', { name: 'Set up two-factor', exact: true }).click();
    await page.getByRole('img', { name: 'Scannable two-factor key' }).waitFor();
    const secret = (await page.locator('#totp-secret').textContent())?.trim() ?? '';
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const recoveryCodes = await page.locator('.recovery-codes code').allTextContents();
    assert.equal(recoveryCodes.length, 10);
    const key = decodeBase32IgnorePadding(secret);

    // The confirming code is for the step now; it counts as used.
    const confirmStep = stepNow();
    await page.getByLabel('Code', { exact: true }).fill(generateHOTP(key, BigInt(confirmStep), 6));
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByText('Two-factor sign-in is on').waitFor();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/login/);

    await page.goto(`${base}/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/login/two-factor`);
    // Codes are single use: the next step's code (one step of drift is accepted).
    const signInStep = Math.max(confirmStep + 1, stepNow());
    await page.getByLabel('Code', { exact: true }).fill(generateHOTP(key, BigInt(signInStep), 6));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByText('Two-factor sign-in is on').waitFor();
  });
});
