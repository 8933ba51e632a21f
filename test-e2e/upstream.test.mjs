// End to end in Chromium: sign-in through an upstream identity provider
// (issue 17). The upstream is a real OpenID provider, oidc-provider (the
// certified Node implementation), on a free 127.0.0.1 port with its
// development sign-in and consent pages; Tollgate is `npm start`'s script
// with UPSTREAM_PROVIDERS and UPSTREAM_LOCAL_CLIENT_SECRET in its environment,
// as an operator would run it. Walks: the first sign-in makes the user, a
// second (in a fresh browser) signs the same user in, the demo SPA works for
// that user, the only way in cannot be unlinked, and an existing password
// account links the provider after signing in, then unlinks it.
// Screenshots of every open page go to test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Provider from 'oidc-provider';
import { freePort } from '../scripts/local.mjs';
import { newContext, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

const CLIENT_ID = 'tollgate-e2e';
const CLIENT_SECRET = 'upstream-e2e-secret-0123456789';

let server;
let upstream;
let browser;

/** The upstream's accounts: any login signs in (development interactions); an email-like login is that address. */
function account(login) {
  const email = login.includes('@') ? login : `${login}@upstream.example.org`;
  return {
    accountId: login,
    claims: async () => ({ sub: login, email, email_verified: true, name: login.includes('@') ? 'Pat Password' : 'Olive Upstream' }),
  };
}

before(async () => {
  const upstreamPort = await freePort();
  const issuer = `http://127.0.0.1:${upstreamPort}`;
  ({ server, browser } = await startServerAndBrowser({
    env: {
      UPSTREAM_PROVIDERS: JSON.stringify([{ id: 'local', name: 'Local ID', type: 'oidc', issuer, client_id: CLIENT_ID }]),
      UPSTREAM_LOCAL_CLIENT_SECRET: CLIENT_SECRET,
    },
  }));
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [`${server.baseUrl}/login/upstream/local/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: (_context, id) => account(id),
    pkce: { required: () => true },
    cookies: { keys: ['e2e-only-cookie-key'] },
  });
  provider.on('server_error', (_context, error) => console.error('oidc-provider:', error));
  upstream = provider.listen(upstreamPort, '127.0.0.1');
});

after(async () => {
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve()));
  await stopServerAndBrowser({ server, browser });
});

/** From Tollgate's sign-in page, through the provider's sign-in and consent pages, back to Tollgate. */
async function continueWithLocalId(page, login) {
  await page.getByRole('button', { name: 'Continue with Local ID' }).click();
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

test('first sign-in makes the user, the second signs the same user in, the demo SPA works, the only way in stays linked', async () => {
  const base = server.baseUrl;
  const first = await newContext(browser);
  await withScreenshots(first, 'upstream-first', async () => {
    const page = await first.newPage();
    await page.goto(`${base}/login`);
    await continueWithLocalId(page, 'olive');
    await page.waitForURL(`${base}/account`);
    const html = await page.content();
    assert.match(html, /Olive Upstream/);
    assert.match(html, /olive@upstream\.example\.org/);
    assert.match(html, /Sign-in providers/);
    // The only way this user can sign in: Unlink is refused.
    await page.getByRole('button', { name: 'Unlink Local ID' }).click();
    assert.match(await page.content(), /only way you can sign in/);
  });

  const second = await newContext(browser);
  await withScreenshots(second, 'upstream-second', async () => {
    const page = await second.newPage();
    // Through the demo SPA: sign-in is asked for on the way to consent.
    await page.goto(`${base}/demo`);
    await page.getByRole('button', { name: 'Sign in with Tollgate' }).click();
    await page.waitForURL((url) => url.pathname === '/login');
    await continueWithLocalId(page, 'olive');
    await page.waitForURL((url) => url.pathname === '/oauth2/authorize');
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL(`${base}/demo`);
    await page.locator('#who', { hasText: 'Olive Upstream' }).waitFor();
    await page.getByLabel('Title').fill('Cryptonomicon');
    await page.getByLabel('Author').fill('Neal Stephenson');
    await page.getByRole('button', { name: 'Add book' }).click();
    await page.getByRole('listitem').filter({ hasText: 'Cryptonomicon by Neal Stephenson' }).waitFor();
    // The same user as the first sign-in: one account, the same address.
    await page.goto(`${base}/account`);
    assert.match(await page.content(), /olive@upstream\.example\.org/);
  });
});

test('an existing password account links the provider after signing in, and unlinks it', async () => {
  const base = server.baseUrl;
  const context = await newContext(browser);
  const email = `pat-${Date.now()}@example.com`;
  await withScreenshots(context, 'upstream-link', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name').fill('Pat Password');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByRole('button', { name: 'Sign out' }).click();

    await page.goto(`${base}/login`);
    await continueWithLocalId(page, email);
    await page.getByText('already exists').waitFor();
    await page.getByRole('link', { name: 'Sign in to link Local ID' }).click();
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Link', exact: true }).click();
    await page.waitForURL(`${base}/account`);
    assert.match(await page.content(), /Sign-in providers/);

    await page.getByRole('button', { name: 'Unlink Local ID' }).click();
    await page.waitForURL(`${base}/account`);
    assert.equal(await page.getByRole('button', { name: 'Unlink Local ID' }).count(), 0);
  });
});
