// The browser the e2e tests launch (browser.mjs) supports what passkey tests
// need: the Chrome DevTools Protocol's WebAuthn domain, whose virtual
// authenticator answers navigator.credentials as a platform authenticator
// would. No server: Playwright answers for one https origin, since
// PublicKeyCredential exists only in secure contexts (W3C WebAuthn §5.1).
//
// Mind the fallback browser (@sparticuz/chromium 138, a headless shell): a
// ceremony that may reach beyond the platform authenticator crashes it
// (SIGSEGV, "Target page, context or browser has been closed"). It works when
// create() asks for authenticatorAttachment 'platform' and get() lists the
// credential with transports ['internal'], as below; a create() without an
// attachment, a get() with an empty allowCredentials (discoverable sign-in) or
// mediation 'conditional' need a full Chromium (CHROMIUM_PATH or an installed one).
// test-e2e/passkeys.test.mjs, against the real server, sidesteps both on the
// shell: it asks for the platform authenticator and signs in email-first there.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium } from './browser.mjs';

const ORIGIN = 'https://tollgate.test';
const RP_ID = 'tollgate.test';

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/**
 * Runs in the page: registers a passkey, then signs in with it. Resolves to
 * the user handle's length and whether each ceremony's authenticator data had
 * the UV (user verified) flag: bit 2 of the flags byte at offset 32 (W3C WebAuthn §6.1).
 */
async function registerThenSignIn(rpId) {
  const userVerified = (authenticatorData) => (new Uint8Array(authenticatorData)[32] & 0b100) !== 0;
  const created = await navigator.credentials.create({
    publicKey: {
      rp: { id: rpId, name: 'Tollgate' },
      user: { id: crypto.getRandomValues(new Uint8Array(16)), name: 'edna@example.com', displayName: 'Edna Reader' },
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      pubKeyCredParams: [
        { type: 'public-key', alg: -7 },
        { type: 'public-key', alg: -257 },
      ],
      authenticatorSelection: { authenticatorAttachment: 'platform', residentKey: 'required', userVerification: 'required' },
    },
  });
  const asserted = await navigator.credentials.get({
    publicKey: {
      rpId,
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      allowCredentials: [{ type: 'public-key', id: created.rawId, transports: ['internal'] }],
      userVerification: 'required',
    },
  });
  return {
    createdVerified: userVerified(created.response.getAuthenticatorData()),
    sameCredential: asserted.id === created.id,
    assertedVerified: userVerified(asserted.response.authenticatorData),
    userHandleBytes: asserted.response.userHandle.byteLength,
  };
}

test('a CDP virtual authenticator registers a passkey and signs in with it', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route(`${ORIGIN}/**`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>passkey</title>' }));
  await page.goto(`${ORIGIN}/`);

  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  const result = await page.evaluate(registerThenSignIn, RP_ID);
  assert.deepEqual(result, { createdVerified: true, sameCredential: true, assertedVerified: true, userHandleBytes: 16 });
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].rpId, RP_ID);
  await context.close();
});
