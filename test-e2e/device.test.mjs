// End to end, the device flow (RFC 8628) as a person meets it: `npm run
// device-login` (scripts/device-login.mjs, the example CLI) runs against the
// real server (`npm start`'s script on a free 127.0.0.1 port with fresh
// state, which seeds the demo-cli client) and prints a code; a person signs
// up in Chromium, types the code on /device, sees the consent page with the
// phishing warning and presses Allow; the CLI's next poll gets the tokens and
// it prints the claims. Screenshots go to test-results/e2e/ when a step fails.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../scripts/local.mjs';
import { newContext, STEP_TIMEOUT_MS, startServerAndBrowser, stopServerAndBrowser, withScreenshots } from './server.mjs';

/** The CLI polls every 5 s (the server's interval): a few polls' worth. */
const CLI_DEADLINE_MS = 45_000;

let server;
let browser;
let cli;

before(async () => {
  ({ server, browser } = await startServerAndBrowser());
});

after(async () => {
  // Only the processes this test started, by their pid.
  if (cli && cli.exitCode === null) cli.kill('SIGTERM');
  await stopServerAndBrowser({ server, browser });
});

/** Starts `scripts/device-login.mjs` against the server; resolves its output so far on demand, and its exit. */
function startCli(baseUrl) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'device-login.mjs')], {
    cwd: ROOT,
    env: { ...process.env, TOLLGATE_ISSUER: baseUrl, TOLLGATE_CLIENT_ID: 'demo-cli' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits until `read()` matches `pattern`, or fails with what was read. */
async function waitFor(read, pattern, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const match = pattern.exec(read());
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${pattern}; output:\n${read()}`);
}

test('npm run device-login prints a code; a person enters it on /device, allows it, and the CLI is signed in', async () => {
  const base = server.baseUrl;
  const run = startCli(base);
  cli = run.child;
  const context = await newContext(browser);
  const page = await context.newPage();
  await withScreenshots(context, 'device', async () => {
    const [, verificationUri, userCode] = await waitFor(
      run.output,
      /open\s+(\S+)\s+and enter the code ([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})/,
      STEP_TIMEOUT_MS,
    );
    assert.equal(verificationUri, `${base}/device`);

    // Sign up first (the /device page would send a signed-out person to /login).
    const name = 'Dorothy Vaughan';
    await page.goto(`${base}/signup`);
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Email').fill(`dorothy-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account`);

    // The code page, by the labels SPEC names; typed in lower case without the dash.
    await page.goto(verificationUri);
    await page.getByLabel('Code').fill(userCode.replace('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
    const consent = await page.content();
    assert.match(consent, /Demo CLI/);
    assert.match(consent, /A device asked to sign in/);
    assert.match(consent, /Only allow this if you started signing in on a device yourself/);
    assert.ok(consent.includes(userCode), 'the consent page shows the code to compare');
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.getByText('You may close this page').waitFor();

    // The CLI's next poll gets the tokens; it prints the ID token's claims.
    await waitFor(run.output, /Signed in\./, CLI_DEADLINE_MS);
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), new RegExp(`name: '${name}'`));
    assert.match(run.output(), /refresh_token yes/);
  }).catch((error) => {
    throw new Error(`${error.message}\nCLI output:\n${run.output()}`, { cause: error });
  });
});
