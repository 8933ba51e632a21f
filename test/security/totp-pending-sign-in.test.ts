import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { adminAction, signedInAdmin } from '../admin-support';
import { awaitMail, Browser, createUser, hiddenFields, mailedLink, signedInBrowser } from '../helpers';
import { enterCode, enterPassword, turnOnTwoFactor } from '../totp-support';

// The sign-in waiting for its code is bound to the browser that gave the
// password: a D1 row keyed by the SHA-256 of a random HttpOnly cookie. A
// code typed elsewhere (another browser, a phishing page's own session) does
// not complete it, and it completes once.
/** Posts a code as the Code page's form would, with the browser's pending-sign-in cookie, without opening the page (it may be gone). */
async function codeWithoutPage(browser: Browser, code: string): Promise<Response> {
  const csrf = hiddenFields(await (await browser.get('/login')).text()).csrf_token!;
  return browser.post('/login/two-factor', { csrf_token: csrf, code });
}

describe('the pending sign-in between password and code', () => {
  it('cannot be completed from a browser without its cookie, nor by a made-up one', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const victim = new Browser();
    expect((await enterPassword(victim, user)).status).toBe(303);

    // Another browser with the right code but without the victim's cookie.
    const other = new Browser();
    const login = await (await other.get('/login')).text();
    const csrf = hiddenFields(login).csrf_token!;
    const withoutCookie = await other.post('/login/two-factor', { csrf_token: csrf, code: app.codeAt(app.lastStep + 1) });
    expect(withoutCookie.status).toBe(401);
    expect(await withoutCookie.text()).toContain('Your sign-in has expired');
    other.cookies.set('tg_2fa', 'A'.repeat(43));
    const forged = await other.post('/login/two-factor', { csrf_token: csrf, code: app.codeAt(app.lastStep + 1) });
    expect(forged.status).toBe(401);
    expect((await other.get('/account')).status).toBe(302);
    // Neither spent the code: the victim completes the sign-in with it.
    expect((await enterCode(victim, await app.nextCode())).status).toBe(303);
  });

  it('stores only the hash of its cookie, completes once, and is gone after', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const browser = new Browser();
    await enterPassword(browser, user);
    const token = browser.cookies.get('tg_2fa')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = (await env.DB.prepare('select * from pending_sign_ins where user_id = ?').bind(user.id).all()).results;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);

    const page = await (await browser.get('/login/two-factor')).text();
    expect((await browser.post('/login/two-factor', { ...hiddenFields(page), code: await app.nextCode() })).status).toBe(303);
    expect(browser.cookies.has('tg_2fa')).toBe(false);
    expect((await env.DB.prepare('select count(*) as n from pending_sign_ins where user_id = ?').bind(user.id).first())?.n).toBe(0);

    // The same cookie again (a copy kept by someone), with a fresh code: nothing.
    const copy = new Browser();
    copy.cookies.set('tg_2fa', token);
    const login = await (await copy.get('/login')).text();
    const replayed = await copy.post('/login/two-factor', { csrf_token: hiddenFields(login).csrf_token!, code: await app.nextCode() });
    expect(replayed.status).toBe(401);
    expect((await copy.get('/account')).status).toBe(302);
  });

  it('returns only where the password step was told to, and never off-site', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const browser = new Browser();
    await enterPassword(browser, user, '//evil.example/steal');
    const done = await enterCode(browser, await app.nextCode());
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/account');
  });

  it('is ended by a password reset: a code cannot finish a sign-in begun with the old password', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const attacker = new Browser();
    expect((await enterPassword(attacker, user)).status).toBe(303);

    // The owner resets the password (as after noticing a leak).
    expect((await new Browser().submit('/forgot', { email: user.email })).status).toBe(303);
    const [mail] = await awaitMail(user.email, 'Reset your password');
    const owner = new Browser();
    const page = await owner.get(mailedLink(mail!, '/reset-password'));
    const reset = await owner.post('/reset-password', { ...hiddenFields(await page.text()), password: 'a brand new passphrase' });
    expect(reset.status).toBe(303);

    const finished = await codeWithoutPage(attacker, await app.nextCode());
    expect(finished.status).toBe(401);
    expect(await finished.text()).toContain('Your sign-in has expired');
    expect((await attacker.get('/account')).status).toBe(302);
  });

  it("is ended by an admin's Sign out everywhere", async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const browser = new Browser();
    expect((await enterPassword(browser, user)).status).toBe(303);
    const { browser: admin } = await signedInAdmin();
    expect((await adminAction(admin, `/admin/users/${user.id}/sign-out`)).status).toBe(303);

    const finished = await codeWithoutPage(browser, await app.nextCode());
    expect(finished.status).toBe(401);
    expect((await browser.get('/account')).status).toBe(302);
  });
});
