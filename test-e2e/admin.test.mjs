// End to end, the admin console as an operator meets it: `npm start`'s
// script (free 127.0.0.1 port, fresh state) makes the demo user an admin and
// says so; the admin signs in in Chromium, finds a user on /admin/users by
// the Search field, presses Disable (the user's next bearer call gets 401 and
// their sign-in is refused), presses Enable (they sign in again), and the
// dashboard on /admin counts the sign-ins this test made and draws its charts
// with uPlot. A screenshot goes to test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newContext, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

let server;
let browser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser());
});

after(() => stopServerAndBrowser({ server, browser }));

/** A JSON call to the server (Node's fetch, to 127.0.0.1). */
async function api(pathname, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${server.baseUrl}${pathname}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: response.status, body: await response.json().catch(() => null) };
}

test('an admin finds a user, disables them (401 for their token, sign-in refused), enables them, and the dashboard counts the sign-ins', async () => {
  const base = server.baseUrl;
  const [, adminEmail, adminPassword] = /Demo user\s+(\S+)\s+password: (\S+)/.exec(server.output()) ?? [];
  assert.ok(adminEmail, `npm start printed no demo user:\n${server.output()}`);
  assert.match(server.output(), /Admin console\s+\S+\/admin\s+\(the demo user is an admin/);

  // A user with a user API token that works.
  const user = { email: `katherine-${Date.now()}@example.com`, password: 'a long enough password', name: 'Katherine Johnson' };
  assert.equal((await api('/api/users', { method: 'POST', body: user })).status, 201);
  const login = await api('/api/login', { method: 'POST', body: { email: user.email, password: user.password } });
  assert.equal(login.status, 200);
  const token = login.body.access_token;
  assert.equal((await api('/api/clients', { token })).status, 200);

  const context = await newContext(browser);
  const page = await context.newPage();
  await withScreenshots(context, 'admin', async () => {
    await page.goto(`${base}/login?return_to=%2Fadmin%2Fusers`);
    await page.getByLabel('Email').fill(adminEmail);
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/admin/users`);

    await page.getByLabel('Search').fill(user.email);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const row = page.getByRole('row').filter({ hasText: user.email });
    await row.getByRole('button', { name: 'Disable', exact: true }).click();
    await row.getByRole('button', { name: 'Enable', exact: true }).waitFor();
    assert.match(await row.textContent(), /Disabled/);

    // Their token stops at once, and their right password is refused.
    assert.equal((await api('/api/clients', { token })).status, 401);
    const refused = await api('/api/login', { method: 'POST', body: { email: user.email, password: user.password } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'access_denied');

    await row.getByRole('button', { name: 'Enable', exact: true }).click();
    await row.getByRole('button', { name: 'Disable', exact: true }).waitFor();
    assert.equal((await api('/api/login', { method: 'POST', body: { email: user.email, password: user.password } })).status, 200);

    // Sign-ins this test made: the user's two API sign-ins and the admin's page sign-in.
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL(`${base}/admin`);
    const succeeded = Number(await page.locator('[data-total="day:sign-ins:Succeeded"]').textContent());
    assert.ok(succeeded >= 3, `the dashboard counts ${succeeded} sign-ins`);
    const failed = Number(await page.locator('[data-total="day:sign-ins:Failed"]').textContent());
    assert.ok(failed >= 1, `the dashboard counts ${failed} failed sign-ins (the refused one)`);
    // uPlot drew every chart of both windows from the page's data, under the strict CSP.
    await page.locator('.uplot canvas').first().waitFor();
    assert.equal(await page.locator('.uplot').count(), 12);
  });
});
