// What every end-to-end test against the real server sets up and takes down:
// Tollgate by `npm start`'s script on a free 127.0.0.1 port with fresh state
// (startTollgate in scripts/local.mjs, which waits until discovery answers
// and stops the script, wrangler and workerd by process group id, never by
// name), Chromium (browser.mjs), a browser context per walk, and screenshots
// of every open page in test-results/e2e/ when a walk fails.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startTollgate } from '../scripts/local.mjs';
import { launchChromium } from './browser.mjs';

/** Where a failed walk's screenshots go. */
export const SCREENSHOTS = path.join(ROOT, 'test-results', 'e2e');
/** How long one browser step (a click, a navigation, a wait) may take. */
export const STEP_TIMEOUT_MS = 15_000;
// Startup time is the smoke test's business (30 s, scripts/smoke-start.mjs);
// here a machine busy with other test runs may take longer to get there.
export const SERVER_START_DEADLINE_MS = 90_000;

/**
 * Starts the server (options as startTollgate's; `deadlineMs` defaults to
 * {@link SERVER_START_DEADLINE_MS}), then Chromium. Fails, with the end of the
 * server's output, when discovery does not answer in time; stops the server
 * again when Chromium does not start.
 *
 * @returns `{ server, browser }`, for {@link stopServerAndBrowser} in `after`
 */
export async function startServerAndBrowser({ deadlineMs = SERVER_START_DEADLINE_MS, ...options } = {}) {
  const server = await startTollgate({ deadlineMs, ...options });
  try {
    assert.ok(server.metadata, `the server did not start:\n${server.output().slice(-3000)}`);
    return { server, browser: await launchChromium() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Closes the browser and stops the server, whichever of them started: only the processes this test started, by their pid. */
export async function stopServerAndBrowser({ server, browser } = {}) {
  await browser?.close();
  await server?.stop();
}

/** A fresh browser context (its own cookies and storage) whose steps time out after {@link STEP_TIMEOUT_MS}. */
export async function newContext(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  return context;
}

/**
 * Runs the walk in `context`; on failure, saves a screenshot of every open
 * page (`<name>-<index>.png` in {@link SCREENSHOTS}) before failing. Closes
 * the context either way.
 */
export async function withScreenshots(context, name, walk) {
  try {
    await walk();
  } catch (error) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [index, page] of context.pages().entries()) {
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${index}.png`), fullPage: true }).catch(() => {});
    }
    throw error;
  } finally {
    await context.close();
  }
}
