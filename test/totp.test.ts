import { env } from 'cloudflare:test';
import * as oidc from 'openid-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACR_MFA, ACR_PASSWORD } from '../src/config';
import { createDeps } from '../src/deps';
import { startSetup as startSetupService } from '../src/services/totp';
import type { User } from '../src/storage/schema';
import { answerOnPages, deviceConfig, registerDeviceClient } from './device-support';
import {
  Browser,
  call,
  createUser,
  decodeJwt,
  expectLabelledField,
  hiddenFields,
  issueTokens,
  json,
  refreshAs,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from './helpers';
import { Authenticator, csrfOf, enterCode, enterPassword, startSetup, turnOnTwoFactor } from './totp-support';
import { addPasskey, SoftAuthenticator, signInWithPasskey } from './webauthn-authenticator';

// Issue 15 item 2: TOTP two-factor (RFC 6238) set up on /account, asked for
// after the password at sign-in, recovery codes, turning it off; and the ID
// token's amr/acr saying how the user signed in.

async function storedCredential(userId: string) {
  return env.DB.prepare('select * from totp_credentials where user_id = ?').bind(userId).first<Record<string, unknown>>();
}

async function recoveryRows(userId: string) {
  return (await env.DB.prepare('select * from recovery_codes where user_id = ?').bind(userId).all<Record<string, unknown>>()).results;
}

/** A user with two-factor on, a browser that set it up, and what setup showed. */
async function userWithTwoFactor(): Promise<{ user: TestUser; setup: Awaited<ReturnType<typeof turnOnTwoFactor>> }> {
  const user = await createUser();
  const setup = await turnOnTwoFactor(await signedInBrowser(user));
  return { user, setup };
}

describe('/account: setting up two-factor', () => {
  it('shows the secret as base32 text and as a QR code, ten recovery codes, and a Code field with Confirm', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const account = await (await browser.get('/account')).text();
    expect(account).toContain('>Set up two-factor</button>');

    const { app, recoveryCodes, html } = await startSetup(browser);
    // 20 bytes (RFC 4226 §4 R6) in base32: 32 characters.
    expect(app.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(app.key.length).toBe(20);
    expect(html).toMatch(/<svg [^>]*role="img"[^>]*>.*<path [^>]*d="M/s);
    expect(html).not.toMatch(/<script|style=/);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    expectLabelledField(html, 'Code');
    expect(html).toContain('>Confirm</button>');

    // Not on until confirmed; the secret is not kept in the page's session or in clear beside the codes.
    const row = await storedCredential(user.id);
    expect(row).toMatchObject({ confirmed_at: null, last_used_step: 0 });
    const rows = await recoveryRows(user.id);
    expect(rows).toHaveLength(10);
    for (const code of recoveryCodes) expect(JSON.stringify(rows)).not.toContain(code.replace(/-/g, ''));
    expect((await (await browser.get('/account')).text()).includes('>Set up two-factor</button>')).toBe(true);
  });

  it('a wrong code leaves it off; the right one turns it on and counts as used', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const { app, html } = await startSetup(browser);
    const csrf = hiddenFields(html).csrf_token!;
    const wrong = await browser.post('/account/two-factor/confirm', { csrf_token: csrf, code: app.codeAt(app.lastStep + 1000) });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('That code is not right');
    expect(await storedCredential(user.id)).toMatchObject({ confirmed_at: null });

    const code = await app.nextCode();
    const right = await browser.post('/account/two-factor/confirm', { csrf_token: csrf, code });
    expect(right.status).toBe(303);
    const row = await storedCredential(user.id);
    expect(row?.confirmed_at).toEqual(expect.any(Number));
    expect(row?.last_used_step).toBe(app.lastStep);
    const account = await (await browser.get('/account')).text();
    expect(account).toContain('Two-factor sign-in is on');
    expect(account).toContain('10 recovery codes are left');
    expect(account).toContain('>Turn off two-factor</button>');

    // The confirming code was used: it cannot complete a sign-in.
    const other = new Browser();
    expect((await enterPassword(other, user)).status).toBe(303);
    expect((await enterCode(other, code)).status).toBe(401);
  });

  it('cannot be started again while it is on (the secret and recovery codes stay)', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    await turnOnTwoFactor(browser);
    const before = await storedCredential(user.id);
    const again = await browser.post('/account/two-factor/setup', { csrf_token: await csrfOf(browser, '/account') });
    expect(again.status).toBe(409);
    expect(await storedCredential(user.id)).toEqual(before);
    expect(await recoveryRows(user.id)).toHaveLength(10);
  });

  it('needs the CSRF token and a session', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    expect((await browser.post('/account/two-factor/setup', { csrf_token: 'x'.repeat(43) })).status).toBe(403);
    expect(await storedCredential(user.id)).toBeNull();
    const anonymous = new Browser();
    const csrf = await csrfOf(anonymous, '/login');
    const signedOut = await anonymous.post('/account/two-factor/setup', { csrf_token: csrf });
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get('Location')).toMatch(/^\/login/);
  });

  it('answers a malformed form with a 400 page, never a 500', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    await startSetup(browser);
    const csrf = await csrfOf(browser, '/account');
    const long = await browser.post('/account/two-factor/confirm', { csrf_token: csrf, code: '1'.repeat(500) });
    expect(long.status).toBe(400);
    const missing = await browser.post('/account/two-factor/confirm', { csrf_token: csrf });
    expect(missing.status).toBe(400);
    expect(await storedCredential(user.id)).toMatchObject({ confirmed_at: null });
  });

  it('seals the secret under KEY_ENCRYPTION_KEY, and refuses to keep it in clear for a non-loopback issuer', async () => {
    const user = await createUser();
    const row = await env.DB.prepare('select * from users where id = ?').bind(user.id).first<Record<string, unknown>>();
    const asUser = { id: user.id, email: user.email } as User;
    const kek = { ...env, KEY_ENCRYPTION_KEY: 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhIQ' };
    const setup = await startSetupService(createDeps(kek), asUser);
    expect(row).not.toBeNull();
    const stored = (await storedCredential(user.id))?.secret as string;
    expect(stored).toMatch(/^aes256gcm:/);
    expect(stored).not.toContain(setup!.secret);

    const other = await createUser();
    const https = { ...env, ISSUER: 'https://auth.example.com', KEY_ENCRYPTION_KEY: undefined };
    await expect(startSetupService(createDeps(https), { id: other.id, email: other.email } as User)).rejects.toThrow(/KEY_ENCRYPTION_KEY/);
    expect(await storedCredential(other.id)).toBeNull();
  });
});

describe('/login with two-factor on', () => {
  it('asks for the Code after the password (button Verify), with no session until a right code, then returns where asked', async () => {
    const { user, setup } = await userWithTwoFactor();
    const browser = new Browser();
    const password = await enterPassword(browser, user, '/account?from=test');
    expect(password.status).toBe(303);
    expect(password.headers.get('Location')).toBe('/login/two-factor');
    expect([...browser.cookies.keys()].some((name) => name.includes('session'))).toBe(false);
    expect((await browser.get('/account')).status).toBe(302);

    const page = await browser.get('/login/two-factor');
    const html = await page.text();
    expectLabelledField(html, 'Code');
    expect(html).toContain('>Verify</button>');

    const done = await enterCode(browser, await setup.app.nextCode());
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/account?from=test');
    expect((await browser.get('/account')).status).toBe(200);
    // The pending sign-in was used up.
    expect((await browser.get('/login/two-factor')).status).toBe(303);
  });

  it('a passkey signs in without the code: it is two factors itself (possession, and the user verified on the device)', async () => {
    const user = await createUser();
    const signedIn = await signedInBrowser(user);
    const authenticator = new SoftAuthenticator();
    expect((await addPasskey(signedIn, authenticator)).status).toBe(303);
    await turnOnTwoFactor(signedIn);

    const browser = new Browser();
    const done = await signInWithPasskey(browser, authenticator);
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/account');
    expect((await browser.get('/account')).status).toBe(200);
    expect(browser.cookies.has('tg_2fa')).toBe(false);
  });

  it('a wrong code is 401 and leaves the pending sign-in for another try', async () => {
    const { user, setup } = await userWithTwoFactor();
    const browser = new Browser();
    await enterPassword(browser, user);
    const wrong = await enterCode(browser, setup.app.codeAt(setup.app.lastStep + 1000));
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('That code is not right');
    expect((await enterCode(browser, await setup.app.nextCode())).status).toBe(303);
  });

  it('accepts each recovery code once', async () => {
    const { user, setup } = await userWithTwoFactor();
    const [first] = setup.recoveryCodes;
    const browser = new Browser();
    await enterPassword(browser, user);
    // Typed in upper case and without dashes: still the code.
    expect((await enterCode(browser, first!.replace(/-/g, '').toUpperCase())).status).toBe(303);
    expect((await browser.get('/account')).status).toBe(200);
    expect(await (await browser.get('/account')).text()).toContain('9 recovery codes are left');

    const again = new Browser();
    await enterPassword(again, user);
    expect((await enterCode(again, first!)).status).toBe(401);
    expect((await enterCode(again, setup.recoveryCodes[1]!)).status).toBe(303);
  });

  it('the device flow signs in through the same code step', async () => {
    const { user, setup } = await userWithTwoFactor();
    // Device flow: /device → /login → code → back to /device with the user code.
    const owner = await createUser();
    const client = await registerDeviceClient(await userToken(owner));
    const config = await deviceConfig(client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const browser = new Browser();
    const toLogin = await browser.submit('/device', { user_code: started.user_code });
    expect([302, 303]).toContain(toLogin.status);
    const loginPath = toLogin.headers.get('Location')!;
    expect(loginPath).toMatch(/^\/login\?return_to=/);
    const password = await enterPassword(browser, user, new URL(loginPath, 'http://x').searchParams.get('return_to')!);
    expect(password.headers.get('Location')).toBe('/login/two-factor');
    const back = await enterCode(browser, await setup.app.nextCode());
    expect(back.status).toBe(303);
    expect(back.headers.get('Location')).toMatch(/^\/device/);
    const { done } = await answerOnPages(browser, started.user_code, 'allow');
    expect(done.status).toBe(200);
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
    const claims = decodeJwt(tokens.id_token!).payload;
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(ACR_MFA);
  });

  it('/api/login needs the code as well: the password alone gets no token', async () => {
    const { user, setup } = await userWithTwoFactor();
    const alone = await json('/api/login', { email: user.email, password: user.password });
    expect(alone.status).toBe(401);
    expect(((await alone.json()) as { error_description: string }).error_description).toContain('two-factor');
    const wrong = await json('/api/login', {
      email: user.email,
      password: user.password,
      code: setup.app.codeAt(setup.app.lastStep + 1000),
    });
    expect(wrong.status).toBe(401);
    const right = await json('/api/login', { email: user.email, password: user.password, code: await setup.app.nextCode() });
    expect(right.status).toBe(200);
  });
});

describe('/account: turning two-factor off', () => {
  it('needs a fresh code; then sign-in asks for the password only', async () => {
    const { user, setup } = await userWithTwoFactor();
    const browser = new Browser();
    await enterPassword(browser, user);
    expect((await enterCode(browser, await setup.app.nextCode())).status).toBe(303);

    const csrf = await csrfOf(browser, '/account');
    // The code just used for the sign-in is not fresh.
    const replayed = await browser.post('/account/two-factor/disable', { csrf_token: csrf, code: setup.app.codeAt(setup.app.lastStep) });
    expect(replayed.status).toBe(400);
    expect(await storedCredential(user.id)).not.toBeNull();

    const off = await browser.post('/account/two-factor/disable', { csrf_token: csrf, code: await setup.app.nextCode() });
    expect(off.status).toBe(303);
    expect(await storedCredential(user.id)).toBeNull();
    expect(await recoveryRows(user.id)).toHaveLength(0);
    const account = await (await browser.get('/account')).text();
    expect(account).toContain('>Set up two-factor</button>');
    expect(account).toContain('Turned off two-factor sign-in');
    expect(account).toContain('Turned on two-factor sign-in');

    const later = new Browser();
    const signedIn = await enterPassword(later, user);
    expect(signedIn.headers.get('Location')).toBe('/account');
  });

  it('also with a recovery code', async () => {
    const { user, setup } = await userWithTwoFactor();
    const browser = await (async () => {
      const b = new Browser();
      await enterPassword(b, user);
      await enterCode(b, setup.recoveryCodes[0]!);
      return b;
    })();
    const off = await browser.post('/account/two-factor/disable', {
      csrf_token: await csrfOf(browser, '/account'),
      code: setup.recoveryCodes[1]!,
    });
    expect(off.status).toBe(303);
    expect(await storedCredential(user.id)).toBeNull();
  });
});

describe('amr and acr in the ID token', () => {
  it('a password sign-in says ["pwd"] and urn:tollgate:acr:pwd; with a code, ["pwd","otp"] and urn:tollgate:acr:mfa, kept through refresh', async () => {
    const plain = await createUser();
    const client = await registerClient(await userToken(plain), { grant_types: ['authorization_code', 'refresh_token'] });
    const byPassword = await issueTokens(await signedInBrowser(plain), client, { scope: 'openid' });
    expect(decodeJwt(byPassword.id_token!).payload).toMatchObject({ amr: ['pwd'], acr: ACR_PASSWORD });

    const { user, setup } = await userWithTwoFactor();
    const browser = new Browser();
    await enterPassword(browser, user);
    expect((await enterCode(browser, await setup.app.nextCode())).status).toBe(303);
    const withCode = await issueTokens(browser, client, { scope: 'openid' });
    expect(decodeJwt(withCode.id_token!).payload).toMatchObject({ amr: ['pwd', 'otp'], acr: ACR_MFA });
    // The access token says nothing of it (RFC 9068 does not ask): only the ID token does.
    const refreshed = await refreshAs(client, withCode.refresh_token as string);
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as { id_token: string };
    expect(decodeJwt(body.id_token).payload).toMatchObject({ amr: ['pwd', 'otp'], acr: ACR_MFA });
  });

  it('discovery lists acr_values_supported and the amr and acr claims', async () => {
    const metadata = (await (await call('/.well-known/openid-configuration')).json()) as Record<string, string[]>;
    expect(metadata.acr_values_supported).toEqual([ACR_PASSWORD, ACR_MFA]);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['amr', 'acr']));
  });
});

// Issue 15: turning two-factor on or off is a credential change, so it ends
// the user's other browser sessions (a session stolen before it stops
// working), in the change's own batch; the session that made it stays.
describe('changing two-factor ends the user’s other sessions', () => {
  async function sessionCount(userId: string): Promise<number> {
    return (await env.DB.prepare('select count(*) as n from sessions where user_id = ?').bind(userId).first<{ n: number }>())!.n;
  }

  it('turning it on: the other session is gone, the current one still works', async () => {
    const user = await createUser();
    const current = await signedInBrowser(user);
    const other = await signedInBrowser(user);
    const someoneElse = await signedInBrowser(await createUser());
    expect((await other.get('/account')).status).toBe(200);

    await turnOnTwoFactor(current);

    expect((await other.get('/account')).status).toBe(302);
    expect((await current.get('/account')).status).toBe(200);
    expect(await sessionCount(user.id)).toBe(1);
    // Another user's session is not touched.
    expect((await someoneElse.get('/account')).status).toBe(200);
  });

  it('starting setup without confirming it ends nothing', async () => {
    const user = await createUser();
    const current = await signedInBrowser(user);
    const other = await signedInBrowser(user);
    await startSetup(current);
    expect((await other.get('/account')).status).toBe(200);
  });

  it('a wrong code at confirm ends nothing', async () => {
    const user = await createUser();
    const current = await signedInBrowser(user);
    const other = await signedInBrowser(user);
    const setup = await startSetup(current);
    const wrong = await current.post('/account/two-factor/confirm', { csrf_token: hiddenFields(setup.html).csrf_token!, code: '000000' });
    expect(wrong.status).toBe(400);
    expect((await other.get('/account')).status).toBe(200);
  });

  it('turning it off: the other session (signed in with a code) is gone, the current one still works', async () => {
    const { user, setup } = await userWithTwoFactor();
    const current = new Browser();
    await enterPassword(current, user);
    expect((await enterCode(current, await setup.app.nextCode())).status).toBe(303);
    const other = new Browser();
    await enterPassword(other, user);
    // A recovery code: a test gets at most three TOTP codes per 30 seconds.
    expect((await enterCode(other, setup.recoveryCodes[0]!)).status).toBe(303);
    expect((await other.get('/account')).status).toBe(200);

    // A wrong code changes nothing: two-factor stays on and so does the other session.
    const csrf = await csrfOf(current, '/account');
    expect((await current.post('/account/two-factor/disable', { csrf_token: csrf, code: '000000' })).status).toBe(400);
    expect((await other.get('/account')).status).toBe(200);

    const off = await current.post('/account/two-factor/disable', { csrf_token: csrf, code: await setup.app.nextCode() });
    expect(off.status).toBe(303);
    expect(await storedCredential(user.id)).toBeNull();
    expect((await other.get('/account')).status).toBe(302);
    expect((await current.get('/account')).status).toBe(200);
    expect(await sessionCount(user.id)).toBe(1);
  });
});

describe('the test authenticator (test/totp-support.ts)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("offers no code for the step before in a step's last seconds, and waits for the next step when three are used", async () => {
    // 3 s before step 1000 begins: a code for step 998 could reach the server in step 1000, too old.
    vi.useFakeTimers({ now: 1000 * 30_000 - 3_000, toFake: ['Date', 'setTimeout'] });
    const app = new Authenticator('JBSWY3DPEHPK3PXP');
    expect(await app.nextCode()).toBe(app.codeAt(999));
    expect(await app.nextCode()).toBe(app.codeAt(1000));
    const third = app.nextCode();
    await vi.advanceTimersByTimeAsync(3_100);
    expect(await third).toBe(app.codeAt(1001));
  });

  it('earlier in a step, starts with the step before (the drift window holds three codes)', async () => {
    vi.useFakeTimers({ now: 1000 * 30_000 + 10_000, toFake: ['Date', 'setTimeout'] });
    const app = new Authenticator('JBSWY3DPEHPK3PXP');
    expect([await app.nextCode(), await app.nextCode(), await app.nextCode()]).toEqual([
      app.codeAt(999),
      app.codeAt(1000),
      app.codeAt(1001),
    ]);
  });
});
