// The browser the end-to-end tests drive. `npm test` must pass as it stands on
// a machine with no Chromium installed and no network but the npm registry, so
// this looks for a Chromium already on the machine and otherwise uses the one
// the devDependency @sparticuz/chromium ships inside its npm package (unpacked
// into the OS temp directory on first use; no install script, no download).
// When no browser can be launched it throws: the tests fail, never skip.
// That packaged Chromium is a headless shell: see webauthn.test.mjs for the
// passkey ceremonies it can run with a virtual authenticator and those that crash it.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

/** Where a Chromium or Chrome is usually installed: Debian, Ubuntu (apt, snap), Google's packages, macOS. First found wins. */
export const SYSTEM_CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

/** No sandbox (CI runs as root); and no calls to Google's services from a closed network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const FALLBACK_PACKAGE = '@sparticuz/chromium';

/**
 * Finds the Chromium to run: `CHROMIUM_PATH` if set (which must exist), else
 * the first of {@link SYSTEM_CHROMIUM_PATHS} that exists, else the binary that
 * `@sparticuz/chromium` ships (Linux x64 only).
 *
 * @returns the executable's path, where it came from (for the log), and whether it is the packaged one
 * @throws when `CHROMIUM_PATH` names a missing file, or when there is no Chromium at all
 */
export async function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH is set to ${fromEnv}, which does not exist`);
    return { executablePath: fromEnv, source: 'CHROMIUM_PATH' };
  }
  const installed = SYSTEM_CHROMIUM_PATHS.find((candidate) => existsSync(candidate));
  if (installed) return { executablePath: installed, source: 'installed on this machine' };
  return findPackagedChromium();
}

/** The Chromium inside `@sparticuz/chromium`, unpacked from its brotli archives into the temp directory on first use. */
async function findPackagedChromium() {
  const noneFound = `no Chromium at ${SYSTEM_CHROMIUM_PATHS.join(', ')} and CHROMIUM_PATH is not set`;
  // The package's archives hold a Linux x64 build only.
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${noneFound}; ${FALLBACK_PACKAGE} ships Linux x64 only: install Chromium or set CHROMIUM_PATH`);
  }
  let packaged;
  try {
    packaged = (await import(FALLBACK_PACKAGE)).default;
  } catch (error) {
    throw new Error(`${noneFound}, and ${FALLBACK_PACKAGE} cannot be loaded (run npm ci): ${error.message}`, { cause: error });
  }
  let executablePath;
  try {
    executablePath = await packaged.executablePath();
  } catch (error) {
    throw new Error(`${noneFound}, and ${FALLBACK_PACKAGE} could not unpack its Chromium into ${tmpdir()}: ${error.message}`, {
      cause: error,
    });
  }
  return { executablePath, source: `${FALLBACK_PACKAGE} ${packagedVersion()}`, packaged: true };
}

/** The installed version of `@sparticuz/chromium`; its major version is Chromium's. */
function packagedVersion() {
  const manifest = new URL(`../node_modules/${FALLBACK_PACKAGE}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(manifest, 'utf8')).version;
}

/**
 * Launches headless Chromium (see {@link findChromium}) through playwright-core
 * and logs, in one line, which browser it chose.
 *
 * @returns the launched browser; the caller closes it
 * @throws when no Chromium is found or the one found does not start
 */
export async function launchChromium() {
  const { executablePath, source, packaged = false } = await findChromium();
  let browser;
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  } catch (error) {
    const hint = packaged ? ` (${staleUnpackHint(executablePath)})` : '';
    throw new Error(`Chromium at ${executablePath} (${source}) did not start${hint}: ${error.message}`, { cause: error });
  }
  if (packaged && !isShippedVersion(browser.version())) {
    await browser.close();
    throw new Error(
      `${executablePath} is Chromium ${browser.version()}, not the one ${FALLBACK_PACKAGE} ${packagedVersion()} ships: ${staleUnpackHint(executablePath)}`,
    );
  }
  console.log(`e2e browser: Chromium ${browser.version()} at ${executablePath} (${source})`);
  return browser;
}

/**
 * @sparticuz/chromium reuses whatever `chromium` file is already in the temp
 * directory, so after an upgrade, or an unpacking cut short, it may run an
 * older or broken binary. The fix is to delete that file.
 */
function staleUnpackHint(executablePath) {
  return `if another version unpacked it, or unpacking was cut short, delete ${executablePath} and rerun`;
}

/** Whether a Chromium version has the major version the installed @sparticuz/chromium ships (the package's own major version). */
function isShippedVersion(browserVersion) {
  return browserVersion.split('.')[0] === packagedVersion().split('.')[0];
}
