import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import { safeReturnTo } from '../src/routes/login';
import {
  APP_REVOKE_ACTION,
  authorizeWithConsent,
  Browser,
  call,
  createUser,
  expectLabelledField,
  formAction,
  hiddenFields,
  ISSUER,
  redeem,
  registerClient,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';

function expectPageHeaders(response: Response): void {
  const csp = response.headers.get('Content-Security-Policy') ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(response.headers.get('X-Frame-Options')).toBe('DENY');
  expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
  expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
  expect(response.headers.get('Cache-Control')).toBe('no-store');
}

describe('GET /login and /signup', () => {
  it('labels every field as SPEC says, with a CSRF token, and safe headers', async () => {
    const login = await call('/login');
    expect(login.status).toBe(200);
    expectPageHeaders(login);
    const loginHtml = await login.text();
    expectLabelledField(loginHtml, 'Email');
    expectLabelledField(loginHtml, 'Password');
    expect(loginHtml).toContain('<button type="submit">Sign in</button>');
    expect(hiddenFields(loginHtml).csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(login.headers.get('Set-Cookie')).toMatch(/tg_csrf=.*HttpOnly.*SameSite=Lax/i);

    const signup = await call('/signup');
    expectPageHeaders(signup);
    const signupHtml = await signup.text();
    for (const label of ['Name', 'Email', 'Password']) expectLabelledField(signupHtml, label);
    expect(signupHtml).toContain('<button type="submit">Create account</button>');
  });

  it('serves its stylesheet so the CSP needs no inline style', async () => {
    const css = await call('/static/tollgate.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('Content-Type')).toContain('text/css');
  });
});

describe('POST /login', () => {
  it('starts a session in an HttpOnly, SameSite=Lax cookie and returns to a local path', async () => {
    const user = await createUser();
    const browser = new Browser();
    const response = await browser.submit('/login?return_to=%2Faccount%3Fx%3D1', { email: user.email, password: user.password });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account?x=1');
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith('tg_session='));
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//);
    // Only the hash of the session id is stored.
    const token = cookie!.split(';')[0]!.split('=')[1]!;
    const rows = await env.DB.prepare('select * from sessions').all();
    expect(JSON.stringify(rows.results)).not.toContain(token);
  });

  it('answers a wrong password and an unknown email with the same page and no session', async () => {
    const user = await createUser();
    const wrong = await new Browser().submit('/login', { email: user.email, password: 'not the password' });
    const unknown = await new Browser().submit('/login', { email: `${unique('ghost')}@example.com`, password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = /<p class="alert" role="alert">([^<]*)<\/p>/;
    expect(message.exec(await wrong.text())?.[1]).toBe('Email or password is incorrect.');
    expect(message.exec(await unknown.text())?.[1]).toBe('Email or password is incorrect.');
    expect(wrong.headers.getSetCookie().some((c) => c.startsWith('tg_session='))).toBe(false);
  });

  it('refuses a form without the CSRF token, or with another one, and starts no session', async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get('/login');
    const missing = await browser.post('/login', { email: user.email, password: user.password });
    expect(missing.status).toBe(403);
    const forged = await browser.post('/login', { email: user.email, password: user.password, csrf_token: 'A'.repeat(43) });
    expect(forged.status).toBe(403);
    expect([...browser.cookies.keys()]).not.toContain('tg_session');
  });

  it('refuses a form posted from another origin', async () => {
    const user = await createUser();
    const browser = new Browser();
    const html = await (await browser.get('/login')).text();
    const response = await browser.post(
      '/login',
      { ...hiddenFields(html), email: user.email, password: user.password },
      { Origin: 'https://evil.example' },
    );
    expect(response.status).toBe(403);
  });

  it('judges Origin against the issuer, not the URL a proxy forwarded the request to', async () => {
    const user = await createUser();
    const browser = new Browser();
    const html = await (await browser.get('/login')).text();
    const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const post = (origin: string) =>
      app.request(
        'http://internal.invalid/login',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin, Cookie: cookie },
          body: new URLSearchParams({ ...hiddenFields(html), email: user.email, password: user.password }).toString(),
        },
        env,
      );
    expect((await post('http://internal.invalid')).status).toBe(403);
    expect((await post(ISSUER)).status).toBe(303);
    // Under Referrer-Policy: no-referrer a browser sends Origin: null for our own forms.
    expect((await post('null')).status).toBe(303);
  });

  it('answers a malformed form with 400, not a 500', async () => {
    const browser = new Browser();
    const html = await (await browser.get('/login')).text();
    const response = await browser.post('/login', { ...hiddenFields(html), email: 'x'.repeat(300) });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('role="alert"');
  });
});

describe('return_to after sign-in (no open redirect)', () => {
  it.each([
    ['https://evil.example/', '/account'],
    ['//evil.example/path', '/account'],
    ['/\\evil.example', '/account'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['javascript:alert(1)', '/account'],
    // Dot segments collapse to a protocol-relative path: never follow it.
    ['/.//evil.example', '/account'],
    ['/..//evil.example', '/account'],
    ['/%2e//evil.example', '/account'],
    ['/a/..//evil.example/x', '/account'],
    ['/oauth2/authorize?request_id=abc', '/oauth2/authorize?request_id=abc'],
    [' /account', '/account'],
  ])('%s → %s', (value, expected) => {
    expect(safeReturnTo(value)).toBe(expected);
  });

  it('never redirects off-site after a real sign-in', async () => {
    const user = await createUser();
    const response = await new Browser().submit('/login?return_to=%2F%2Fevil.example%2F', { email: user.email, password: user.password });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account');
  });
});

describe('POST /signup', () => {
  it('creates the account and signs in', async () => {
    const browser = new Browser();
    const email = `${unique('page')}@example.com`;
    const response = await browser.submit('/signup', { name: 'Page Reader', email, password: 'long enough pw' });
    expect(response.status).toBe(303);
    expect(browser.cookies.has('tg_session')).toBe(true);
    const account = await browser.get('/account');
    expect(await account.text()).toContain('Page Reader');
  });

  it('shows what is wrong and keeps the typed values', async () => {
    const response = await new Browser().submit('/signup', { name: 'Short', email: 'short@example.com', password: 'short' });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(html).toContain('password');
    expect(html).toContain('value="short@example.com"');
  });

  it('answers 409 for a taken email', async () => {
    const user = await createUser();
    const response = await new Browser().submit('/signup', { name: 'Again', email: user.email, password: 'long enough pw' });
    expect(response.status).toBe(409);
  });
});

describe('POST /logout', () => {
  it('ends the session server-side: the old cookie no longer works', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const sessionCookie = browser.cookies.get('tg_session')!;
    const html = await (await browser.get('/account')).text();
    const loggedOut = await browser.post('/logout', hiddenFields(html));
    expect(loggedOut.status).toBe(303);
    expect(loggedOut.headers.get('Location')).toBe('/login');
    // Replaying the old cookie: the session row is gone.
    const replay = await call('/account', { headers: { Cookie: `tg_session=${sessionCookie}` } });
    expect(replay.status).toBe(302);
    expect(replay.headers.get('Location')).toMatch(/^\/login/);
  });

  it('needs the CSRF token', async () => {
    const browser = await signedInBrowser(await createUser());
    const response = await browser.post('/logout', {});
    expect(response.status).toBe(403);
    expect((await browser.get('/account')).status).toBe(200);
  });
});

describe('/account', () => {
  it('sends a signed-out visitor to sign in', async () => {
    const response = await call('/account');
    expect(response.status).toBe(302);
    expect(response.headers.get('Location')).toBe('/login?return_to=%2Faccount');
  });

  it('lists authorized apps, and Revoke ends their access tokens at once', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), { client_name: 'Shelf Sync' });
    const browser = await signedInBrowser(user);
    const tokens = (await (await redeem(client, await authorizeWithConsent(browser, client, { scope: 'books:read' }))).json()) as {
      access_token: string;
    };
    const bearer = { Authorization: `Bearer ${tokens.access_token}` };
    expect((await call('/api/books', { headers: bearer })).status).toBe(200);

    const page = await browser.get('/account');
    expectPageHeaders(page);
    const html = await page.text();
    expect(html).toContain('Shelf Sync');
    expect(html).toContain('Read the books in your library');
    expect(html).toContain('>Revoke</button>');
    const revoked = await browser.post(formAction(html, APP_REVOKE_ACTION), hiddenFields(html));
    expect(revoked.status).toBe(303);

    const after = await call('/api/books', { headers: bearer });
    expect(after.status).toBe(401);
    expect(after.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    expect(await (await browser.get('/account')).text()).not.toContain('>Revoke</button>');
  });

  it('will not revoke without CSRF, nor another user’s grant', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner));
    const ownerBrowser = await signedInBrowser(owner);
    await authorizeWithConsent(ownerBrowser, client, { scope: 'books:read' });
    const html = await (await ownerBrowser.get('/account')).text();
    const action = formAction(html, APP_REVOKE_ACTION);

    const noCsrf = await ownerBrowser.post(action, {});
    expect(noCsrf.status).toBe(403);

    const stranger = await signedInBrowser(await createUser());
    const strangerHtml = await (await stranger.get('/account')).text();
    const foreign = await stranger.post(action, hiddenFields(strangerHtml));
    expect(foreign.status).toBe(404);
    expect(await (await ownerBrowser.get('/account')).text()).toContain('>Revoke</button>');
  });
});
