import { describe, expect, it } from 'vitest';
import { Browser, codeFlowRequest, createUser, registerClient, signedInBrowser, userToken } from '../helpers';
import { enterCode, enterPassword, turnOnTwoFactor } from '../totp-support';

// After a right password a user with two-factor has no session, only a
// pending sign-in: going straight to the authorization endpoint, the device
// page or /account instead of typing the code gets nothing.
describe('skipping the two-factor code step', () => {
  it('calling /oauth2/authorize right after the password sends the browser to sign in, and issues no code', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(await createUser()));
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const browser = new Browser();
    expect((await enterPassword(browser, user)).headers.get('Location')).toBe('/login/two-factor');

    const { url } = await codeFlowRequest(client);
    const skipped = await browser.get(url);
    expect(skipped.status).toBe(302);
    expect(skipped.headers.get('Location')).toMatch(/^\/login\?/);
    const silent = await browser.get(`${url}&prompt=none`);
    expect(silent.status).toBe(302);
    expect(new URL(silent.headers.get('Location')!).searchParams.get('error')).toBe('login_required');
    expect((await browser.get('/account')).status).toBe(302);

    // The code step is still there to finish, and then the authorization goes on.
    expect((await enterCode(browser, await app.nextCode())).status).toBe(303);
    const consent = await browser.get(url);
    expect(consent.status).toBe(200);
    expect(await consent.text()).toContain('>Allow</button>');
  });

  it('prompt=login (a reauthentication) asks for the code again, not only the password', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(await createUser()));
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const browser = new Browser();
    await enterPassword(browser, user);
    expect((await enterCode(browser, await app.nextCode())).status).toBe(303);

    const { url } = await codeFlowRequest(client, { prompt: 'login' });
    const toLogin = await browser.get(url);
    expect(toLogin.status).toBe(302);
    const returnTo = new URL(toLogin.headers.get('Location')!, 'http://x').searchParams.get('return_to')!;
    const password = await enterPassword(browser, user, returnTo);
    expect(password.headers.get('Location')).toBe('/login/two-factor');
    // Back at the authorization endpoint with only the password: sign in again, no consent page.
    const early = await browser.get(returnTo);
    expect(early.status).toBe(302);
    expect(early.headers.get('Location')).toMatch(/^\/login\?/);
    const done = await enterCode(browser, await app.nextCode());
    expect(done.headers.get('Location')).toBe(returnTo);
    const consent = await browser.get(returnTo);
    expect(consent.status).toBe(200);
    expect(await consent.text()).toContain('>Allow</button>');
  });
});
