import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { Browser, call, createUser, decodeJwt, hiddenFields, ISSUER, json, unique, userToken } from '../helpers';

// Issue 11, finding 2: eleven wrong passwords a minute for a victim's email
// made the right password 429 too, for as long as the attacker kept going.
// OWASP's "device cookies" answer (Authentication Cheat Sheet, "Account
// lockout"; OWASP "Slow Down Online Guessing Attacks with Device Cookies"):
// a browser that signed in to the account before is not held by the
// account-wide limit; a hard limit per account and network always holds.

/** How many failures it takes to see a limit of `limit` refuse, even if a fixed rate-limit window ends mid-run and resets the count once. */
const withinTwoWindows = (limit: number) => 2 * limit + 2;

/** A fresh IPv6 /64 of the documentation range; `at(n)` is an address in it, as CF-Connecting-IP would carry it. */
function network(): { at(host: number): string } {
  const hextet = () => Math.floor(Math.random() * 0x10000).toString(16);
  const prefix = `2001:db8:${hextet()}:${hextet()}`;
  return { at: (host) => `${prefix}::${host.toString(16)}` };
}

/** The sign-in page's form, submitted by `browser` from `address`. */
async function signInPage(browser: Browser, address: string, email: string, password: string, extra: Record<string, string> = {}) {
  const html = await (await browser.get('/login')).text();
  return browser.post('/login', { ...hiddenFields(html), email, password, ...extra }, { 'CF-Connecting-IP': address });
}

async function expectTooMany(response: Response): Promise<void> {
  const body = await response.clone().text();
  expect(response.status, body.slice(0, 200)).toBe(429);
  expect(response.headers.get('Retry-After')).toBe('60');
}

/**
 * The attacker: wrong passwords for `email` through /api/login, each from a
 * network of its own, so that only the account-wide limit can ever stop it.
 * Returns once refused; every answer before that was a plain 401.
 */
async function sprayUntilRefused(email: string): Promise<void> {
  for (let i = 0; i < withinTwoWindows(10); i++) {
    const response = await json('/api/login', { email, password: `guess ${i}` }, { headers: { 'CF-Connecting-IP': network().at(1) } });
    if (response.status === 429) return;
    expect(response.status).toBe(401);
  }
  expect.unreachable('the account-wide limit never refused the attacker');
}

describe('an attacker spraying wrong passwords at an account (account-lockout)', () => {
  it('cannot keep the victim out: a browser that signed in before still has its password checked', async () => {
    const victim = await createUser();
    const home = network();
    const browser = new Browser();
    expect((await signInPage(browser, home.at(1), victim.email, victim.password)).status).toBe(303);

    await sprayUntilRefused(victim.email);
    // A browser that never signed in to this account cannot be told apart
    // from the attacker: refused, right password or not, page or JSON.
    await expectTooMany(await signInPage(new Browser(), network().at(1), victim.email, victim.password));
    await expectTooMany(
      await json('/api/login', { email: victim.email, password: victim.password }, { headers: { 'CF-Connecting-IP': network().at(1) } }),
    );

    // The victim's browser has its password checked: a typo is a 401, the right one signs in.
    expect((await signInPage(browser, home.at(2), victim.email, 'a typo here')).status).toBe(401);
    expect((await signInPage(browser, home.at(2), victim.email, victim.password)).status).toBe(303);
    // The attack goes on: the attacker stays refused, the victim still gets in.
    for (let i = 0; i < 3; i++) {
      await expectTooMany(
        await json('/api/login', { email: victim.email, password: `more ${i}` }, { headers: { 'CF-Connecting-IP': network().at(1) } }),
      );
    }
    expect((await signInPage(browser, home.at(3), victim.email, victim.password)).status).toBe(303);
    // Audited: the failure that put the account over its limit, once; the refused tries after it write nothing.
    const limited = await env.DB.prepare("select count(*) as n from audit_events where user_id = ? and type = 'sign_in_limited'")
      .bind(victim.id)
      .first<{ n: number }>();
    expect(limited?.n).toBe(1);
  });

  it('still holds the hard limit per account and network for a browser with a device cookie', async () => {
    const victim = await createUser();
    const home = network();
    const browser = new Browser();
    expect((await signInPage(browser, home.at(1), victim.email, victim.password)).status).toBe(303);
    let refused = false;
    for (let i = 0; i < withinTwoWindows(10) && !refused; i++) {
      const response = await signInPage(browser, home.at(1), victim.email, `wrong ${i}`);
      refused = response.status === 429;
      if (!refused) expect(response.status).toBe(401);
    }
    expect(refused).toBe(true);
    // That network is paused for this account, device cookie or not: passwords are not checked.
    await expectTooMany(await signInPage(browser, home.at(2), victim.email, victim.password));
    // A trusted browser's failures never lock the account for everyone else.
    expect((await signInPage(new Browser(), network().at(1), victim.email, victim.password)).status).toBe(303);
  });

  it('trusts a device cookie only for the account that signed in with it', async () => {
    const [victim, other] = await Promise.all([createUser(), createUser()]);
    const browser = new Browser();
    expect((await signInPage(browser, network().at(1), other.email, other.password)).status).toBe(303);
    await sprayUntilRefused(victim.email);
    await expectTooMany(await signInPage(browser, network().at(1), victim.email, victim.password));
  });
});

describe('the device cookie', () => {
  it('is an HttpOnly cookie holding a signed token of its own type, with no email in it', async () => {
    const user = await createUser();
    const browser = new Browser();
    const response = await signInPage(browser, network().at(1), user.email, user.password);
    expect(response.status).toBe(303);
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith('tg_device='));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; Max-Age=7776000/); // 90 days
    const token = browser.cookies.get('tg_device')!;
    const { header, payload } = decodeJwt(token);
    // RFC 8725 §3.11: explicit typing, so no other kind of token can pass as this one, nor this one as another.
    expect(header).toMatchObject({ alg: 'ES256', typ: 'tollgate-device+jwt' });
    expect(payload).toMatchObject({ iss: ISSUER, aud: 'urn:tollgate:device' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(90 * 24 * 60 * 60);
    expect(token).not.toContain(user.email);
    expect(JSON.stringify(payload)).not.toContain(user.email);
    // It is not a user API token.
    const asBearer = await call('/api/clients', { headers: { Authorization: `Bearer ${token}` } });
    expect(asBearer.status).toBe(401);
  });

  it('is honoured only when it verifies: a tampered cookie or another kind of token is no device cookie', async () => {
    const victim = await createUser();
    const browser = new Browser();
    expect((await signInPage(browser, network().at(1), victim.email, victim.password)).status).toBe(303);
    const genuine = browser.cookies.get('tg_device')!;
    const apiToken = await userToken(victim);
    await sprayUntilRefused(victim.email);

    const [head, body, signature] = genuine.split('.');
    const flipped = `${signature!.slice(0, -2)}${signature!.endsWith('AA') ? 'BB' : 'AA'}`;
    const impostors = {
      'a forged signature': `${head}.${body}.${flipped}`,
      "the victim's user API token": apiToken,
      'a random string': unique('device'),
    };
    for (const [name, value] of Object.entries(impostors)) {
      browser.cookies.set('tg_device', value);
      const response = await signInPage(browser, network().at(1), victim.email, victim.password);
      expect(response.status, name).toBe(429);
    }
    browser.cookies.set('tg_device', genuine);
    expect((await signInPage(browser, network().at(1), victim.email, victim.password)).status).toBe(303);
  });

  it('is __Host- prefixed and Secure under an https issuer', async () => {
    const user = await createUser();
    const httpsEnv = { ...env, ISSUER: 'https://auth.example' };
    const page = await app.request('https://auth.example/login', {}, httpsEnv);
    const csrf = page.headers.getSetCookie().find((c) => c.startsWith('__Host-tg_csrf='))!;
    const token = hiddenFields(await page.text()).csrf_token!;
    const signedIn = await app.request(
      'https://auth.example/login',
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: csrf.split(';')[0]!, 'CF-Connecting-IP': network().at(1) },
        body: new URLSearchParams({ csrf_token: token, email: user.email, password: user.password }).toString(),
      },
      httpsEnv,
    );
    expect(signedIn.status).toBe(303);
    const device = signedIn.headers.getSetCookie().find((c) => c.startsWith('__Host-tg_device='));
    expect(device).toMatch(/; Secure/);
    expect(device).toMatch(/; HttpOnly/);
    expect(device).not.toMatch(/Domain=/i);
  });
});

// Turnstile, configured: a browser with no device cookie is challenged
// instead of refused. Siteverify is the stand-in of
// test/stand-ins/turnstile-siteverify.js, reached by a real fetch().
const turnstileEnv = { ...env, TURNSTILE_SITE_KEY: 'standin-site-key', TURNSTILE_SECRET_KEY: 'standin-turnstile-secret' };
const TURNSTILE_ORIGIN = 'https://challenges.cloudflare.com';

/** A Browser whose requests run against the app with Turnstile configured. */
class TurnstileBrowser extends Browser {
  override async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('Cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await app.request(new URL(path, ISSUER).href, { ...init, headers }, turnstileEnv);
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      if (/max-age=0\b/i.test(cookie)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  }
}

async function expectChallenge(response: Response, context: string): Promise<void> {
  const html = await response.text();
  expect(response.status, context).toBe(429);
  expect(html, context).toContain('class="cf-turnstile"');
  expect(html).toContain('data-sitekey="standin-site-key"');
  expect(html).toContain(`<script src="${TURNSTILE_ORIGIN}/turnstile/v0/api.js"`);
  const csp = response.headers.get('Content-Security-Policy') ?? '';
  expect(csp).toMatch(new RegExp(`script-src 'self' ${TURNSTILE_ORIGIN}(;|$)`));
  expect(csp).toMatch(new RegExp(`frame-src ${TURNSTILE_ORIGIN}(;|$)`));
}

describe('with Turnstile configured (TURNSTILE_SITE_KEY, TURNSTILE_SECRET_KEY)', () => {
  it('challenges a browser without a device cookie instead of refusing it, and a solved challenge lets its password be checked', async () => {
    const victim = await createUser();
    await sprayUntilRefused(victim.email);
    const browser = new TurnstileBrowser();
    const address = network().at(1);
    await expectChallenge(await signInPage(browser, address, victim.email, victim.password), 'no token');
    const solved = { 'cf-turnstile-response': `pass-${unique()}` };
    expect((await signInPage(browser, address, victim.email, 'wrong password', solved)).status).toBe(401);
    const again = { 'cf-turnstile-response': `pass-${unique()}` };
    expect((await signInPage(browser, address, victim.email, victim.password, again)).status).toBe(303);
    expect(browser.cookies.has('tg_session')).toBe(true);
  });

  it('never takes an unverified challenge as solved (fails closed)', async () => {
    const victim = await createUser();
    await sprayUntilRefused(victim.email);
    const spent = `pass-${unique()}`;
    const browser = new TurnstileBrowser();
    expect((await signInPage(browser, network().at(1), victim.email, 'not it', { 'cf-turnstile-response': spent })).status).toBe(401);
    const tokens = {
      'a refused token': `fail-${unique()}`,
      'a token solved on another site': `elsewhere-${unique()}`,
      "another widget's token": `other-action-${unique()}`,
      'siteverify unreachable': `down-${unique()}`,
      'siteverify answering garbage': `garbage-${unique()}`,
      'a token already used': spent,
      'a token far too long': `pass-${'x'.repeat(3000)}`,
    };
    for (const [name, token] of Object.entries(tokens)) {
      await expectChallenge(
        await signInPage(browser, network().at(1), victim.email, victim.password, { 'cf-turnstile-response': token }),
        name,
      );
    }
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('leaves /api/login refused: JSON has no challenge to solve', async () => {
    const victim = await createUser();
    await sprayUntilRefused(victim.email);
    const response = await app.request(
      `${ISSUER}/api/login`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': network().at(1) },
        body: JSON.stringify({ email: victim.email, password: victim.password }),
      },
      turnstileEnv,
    );
    await expectTooMany(response);
    expect(await response.json()).toMatchObject({ error: 'too_many_requests' });
  });

  it("allows the widget's origin in the CSP of the sign-in page only, and only when configured", async () => {
    const csp = (response: Response) => response.headers.get('Content-Security-Policy') ?? '';
    expect(csp(await new TurnstileBrowser().get('/login'))).toContain(TURNSTILE_ORIGIN);
    expect(csp(await new TurnstileBrowser().get('/signup'))).not.toContain(TURNSTILE_ORIGIN);
    expect(csp(await new Browser().get('/login'))).not.toContain(TURNSTILE_ORIGIN);
    expect(csp(await new Browser().get('/login'))).not.toContain('frame-src');
  });
});
