import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  awaitMail,
  Browser,
  bearer,
  call,
  createUser,
  expectLabelledField,
  hiddenFields,
  issueTokens,
  mailedLink,
  refreshAs,
  registerClient,
  signedInBrowser,
  storedHash,
  type TestUser,
  userToken,
} from './helpers';

const NEW_PASSWORD = 'a brand new passphrase';

/** Asks /forgot for a link for `email` and returns the mailed link's path (waits for the mail). */
async function requestReset(email: string, browser = new Browser()): Promise<string> {
  const response = await browser.submit('/forgot', { email });
  expect(response.status).toBe(303);
  expect(response.headers.get('Location')).toBe('/forgot/sent');
  const [mail] = await awaitMail(email, 'Reset your password');
  return mailedLink(mail!, '/reset-password');
}

/** Opens a reset link and submits a new password; the answer. */
async function setPassword(link: string, password: string, browser = new Browser()): Promise<Response> {
  const page = await browser.get(link);
  expect(page.status).toBe(200);
  return browser.post('/reset-password', { ...hiddenFields(await page.text()), password });
}

async function canSignIn(user: TestUser, password: string): Promise<boolean> {
  const response = await new Browser().submit('/login', { email: user.email, password });
  return response.status === 303;
}

describe('GET /login and /forgot', () => {
  it('/login links "Forgot password?" to /forgot', async () => {
    expect(await (await call('/login')).text()).toContain('<a href="/forgot">Forgot password?</a>');
  });

  it('/forgot has the field Email and the button Send reset link (SPEC, Wave 2)', async () => {
    const response = await call('/forgot');
    expect(response.status).toBe(200);
    const html = await response.text();
    expectLabelledField(html, 'Email');
    expect(html).toContain('<button type="submit">Send reset link</button>');
  });
});

describe('POST /forgot', () => {
  it('mails a link whose page has New password and Set password; only the token hash is stored', async () => {
    const user = await createUser();
    const link = await requestReset(user.email);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await env.DB.prepare('SELECT hash, purpose, expires_at - created_at AS ttl FROM email_tokens WHERE hash = ?')
      .bind(await storedHash(token))
      .first<{ purpose: string; ttl: number }>();
    expect(row).toMatchObject({ purpose: 'reset_password', ttl: 30 * 60 });
    const clear = await env.DB.prepare('SELECT count(*) AS n FROM email_tokens WHERE hash = ?').bind(token).first<{ n: number }>();
    expect(clear?.n).toBe(0);
    const page = await call(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    expectLabelledField(html, 'New password');
    expect(html).toContain('<button type="submit">Set password</button>');
  });

  it('answers 400 with the form again for a malformed address', async () => {
    const response = await new Browser().submit('/forgot', { email: 'not an address' });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Send reset link');
  });
});

describe('POST /reset-password', () => {
  it('sets the password, signs the user out everywhere, ends apps and API tokens, and is audited', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const apiToken = await userToken(user);
    const client = await registerClient(apiToken, { grant_types: ['authorization_code', 'refresh_token'] });
    const tokens = await issueTokens(browser, client, { scope: 'openid books:read' });
    expect(tokens.refresh_token).toBeDefined();
    const link = await requestReset(user.email);

    const done = await setPassword(link, NEW_PASSWORD);
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/reset-password/done');
    expect(await (await call('/reset-password/done')).text()).toContain('Your new password is set');

    expect(await canSignIn(user, user.password)).toBe(false);
    expect(await canSignIn(user, NEW_PASSWORD)).toBe(true);
    // The browser that was signed in before is not any more.
    expect((await browser.get('/account')).status).toBe(302);
    // The app's refresh and access tokens, and the user API token, stopped working.
    expect((await refreshAs(client, tokens.refresh_token as string)).status).toBe(400);
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(401);
    expect((await call('/api/clients', { headers: bearer(apiToken) })).status).toBe(401);
    const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE user_id = ? AND type = 'password_reset'")
      .bind(user.id)
      .first<{ n: number }>();
    expect(audit?.n).toBe(1);
  });

  it('refuses a password the policy refuses (400, says why) and leaves the link usable', async () => {
    const user = await createUser();
    const link = await requestReset(user.email);
    const weak = await setPassword(link, 'password');
    expect(weak.status).toBe(400);
    const html = await weak.text();
    expect(html).toContain('This password');
    expect(html).toContain('Set password');
    expect(await canSignIn(user, user.password)).toBe(true);
    expect((await setPassword(link, NEW_PASSWORD)).status).toBe(303);
  });

  it('an unknown, malformed or missing token: 400 page, nothing changes', async () => {
    for (const path of [
      '/reset-password?token=unknown-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      '/reset-password?token=',
      '/reset-password',
    ]) {
      const response = await call(path);
      expect(response.status, path).toBe(400);
      expect(await response.text()).toContain('This password reset link has expired or was already used');
    }
    const browser = new Browser();
    const page = await (await browser.get('/forgot')).text();
    const posted = await browser.post('/reset-password', { ...hiddenFields(page), token: 'x'.repeat(43), password: NEW_PASSWORD });
    expect(posted.status).toBe(400);
  });
});
