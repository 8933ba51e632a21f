// End to end in a real browser (Chromium through playwright-core, browser.mjs)
// against the real server (`npm start`'s script on a free 127.0.0.1 port with
// fresh state, DEV_MAILBOX=true): a person signs up, reads the verification
// mail at /dev/mailbox and verifies, forgets their password, asks /forgot for
// a link, sets a new password through the mailed link, and signs in with it
// (the old one no longer works). Screenshots of every open page go to
// test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newContext, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

let server;
let browser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser());
});

after(() => stopServerAndBrowser({ server, browser }));

/** The newest mail to `to` whose subject contains `subject`, from /dev/mailbox's JSON (mail goes after the response: wait a little). */
async function mailFor(base, to, subject) {
  for (let tries = 0; tries < 50; tries++) {
    const response = await fetch(`${base}/dev/mailbox?to=${encodeURIComponent(to)}`, { headers: { Accept: 'application/json' } });
    assert.equal(response.status, 200);
    const mail = (await response.json()).find((candidate) => candidate.subject.includes(subject));
    if (mail) return mail;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`no mail "${subject}" to ${to}`);
}

test('a person verifies their email, forgets their password, resets it through the mailed link, and signs in', async () => {
  const base = server.baseUrl;
  const context = await newContext(browser);
  const page = await context.newPage();
  const email = `reset-${Date.now()}@example.com`;
  const oldPassword = 'my first long passphrase';
  const newPassword = 'my second long passphrase';

  await withScreenshots(context, 'password-reset', async () => {
    // 1. Sign up (labels per SPEC); /account says the address is unverified.
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name').fill('Reset Reader');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(oldPassword);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByText('Your email address is not verified yet').waitFor();

    // 2. The verification mail, read at /dev/mailbox (the page lists it too).
    await page.goto(`${base}/dev/mailbox`);
    await page.getByText('Confirm your email address').first().waitFor();
    const verification = await mailFor(base, email, 'Confirm your email address');
    const verifyLink = verification.links.find((link) => link.startsWith(`${base}/verify-email?`));
    assert.ok(verifyLink, 'a verification link');
    await page.goto(verifyLink);
    await page.getByRole('button', { name: 'Verify email' }).click();
    await page.getByText('Your email address is verified.').waitFor();
    await page.goto(`${base}/account`);
    assert.equal(await page.getByText('not verified yet').count(), 0);

    // 3. Sign out, then forget the password: Forgot password? → Email → Send reset link.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForURL(`${base}/forgot`);
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.waitForURL(`${base}/forgot/sent`);
    await page.getByText('If an account uses that address').waitFor();

    // 4. The mailed link: New password → Set password.
    const reset = await mailFor(base, email, 'Reset your password');
    const resetLink = reset.links.find((link) => link.startsWith(`${base}/reset-password?`));
    assert.ok(resetLink, 'a reset link');
    await page.goto(resetLink);
    await page.getByLabel('New password').fill(newPassword);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.waitForURL(`${base}/reset-password/done`);

    // 5. The old password is refused; the new one signs in.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(oldPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('Email or password is incorrect.').waitFor();
    await page.getByLabel('Password').fill(newPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByText('Signed in as').waitFor();

    // 6. The link does not work twice.
    await page.goto(resetLink);
    await page.getByText('This password reset link has expired or was already used.').waitFor();
  });
});
