import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  awaitMail,
  Browser,
  bearer,
  call,
  createUser,
  decodeJwt,
  hiddenFields,
  issueTokens,
  mailedLink,
  mailTo,
  registerClient,
  signedInBrowser,
  storedHash,
  unique,
  userToken,
} from './helpers';

/** Follows a verification link: its page, then its button (Verify email). */
async function follow(link: string, browser = new Browser()): Promise<Response> {
  const page = await browser.get(link);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('Verify email');
  return browser.post('/verify-email', hiddenFields(html));
}

async function verifiedAt(userId: string): Promise<number | null> {
  const row = await env.DB.prepare('SELECT email_verified_at AS at FROM users WHERE id = ?').bind(userId).first<{ at: number | null }>();
  return row!.at;
}

describe('sign-up mails a verification link', () => {
  it('from the sign-up page: the link sets email_verified_at once, and is stored only hashed', async () => {
    const email = `${unique('signup')}@example.com`;
    const browser = new Browser();
    expect((await browser.submit('/signup', { name: 'New Reader', email, password: 'long enough pw' })).status).toBe(303);
    const [mail] = await awaitMail(email, 'Confirm your email address');
    const link = mailedLink(mail!, '/verify-email');
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    const row = await env.DB.prepare('SELECT user_id, purpose, expires_at - created_at AS ttl FROM email_tokens WHERE hash = ?')
      .bind(await storedHash(token))
      .first<{ user_id: string; purpose: string; ttl: number }>();
    expect(row).toMatchObject({ purpose: 'verify_email', ttl: 24 * 60 * 60 });
    expect(await verifiedAt(row!.user_id)).toBeNull();

    const done = await follow(link, browser);
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/verify-email/done');
    expect(await verifiedAt(row!.user_id)).not.toBeNull();
    // Single use: the same link again changes nothing and says it does not work.
    const again = await follow(link);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This verification link has expired or was already used');
  });

  it('from the JSON API (POST /api/users) too', async () => {
    const user = await createUser();
    await awaitMail(user.email, 'Confirm your email address');
  });

  it('a GET of the link alone (a mail scanner) does not verify', async () => {
    const user = await createUser();
    const [mail] = await awaitMail(user.email, 'Confirm your email address');
    expect((await call(mailedLink(mail!, '/verify-email'))).status).toBe(200);
    expect(await verifiedAt(user.id)).toBeNull();
  });

  it('an expired link does not verify', async () => {
    const user = await createUser();
    const [mail] = await awaitMail(user.email, 'Confirm your email address');
    const link = mailedLink(mail!, '/verify-email');
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    await env.DB.prepare('UPDATE email_tokens SET expires_at = 1 WHERE hash = ?')
      .bind(await storedHash(token))
      .run();
    expect((await follow(link)).status).toBe(400);
    expect(await verifiedAt(user.id)).toBeNull();
  });
});

describe('the email_verified claim follows verification (OIDC Core §5.1)', () => {
  it('is false in the ID token and at userinfo before, true after', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerClient(await userToken(user));
    const before = await issueTokens(browser, client, { scope: 'openid email' });
    expect(decodeJwt(before.id_token!).payload.email_verified).toBe(false);
    const info = await call('/oauth2/userinfo', { headers: bearer(before.access_token) });
    expect(((await info.json()) as Record<string, unknown>).email_verified).toBe(false);

    const [mail] = await awaitMail(user.email, 'Confirm your email address');
    expect((await follow(mailedLink(mail!, '/verify-email'))).status).toBe(303);

    const after = await issueTokens(browser, client, { scope: 'openid email' });
    expect(decodeJwt(after.id_token!).payload.email_verified).toBe(true);
    const infoAfter = await call('/oauth2/userinfo', { headers: bearer(after.access_token) });
    expect(((await infoAfter.json()) as Record<string, unknown>).email_verified).toBe(true);
    const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE user_id = ? AND type = 'email_verified'")
      .bind(user.id)
      .first<{ n: number }>();
    expect(audit?.n).toBe(1);
  });
});

describe('/account while unverified', () => {
  it('says so and resends the link (Resend verification email), at most 3 a minute per address', async () => {
    const user = await createUser();
    await awaitMail(user.email, 'Confirm your email address');
    const browser = await signedInBrowser(user);
    const page = await (await browser.get('/account')).text();
    expect(page).toContain('Your email address is not verified yet');
    expect(page).toContain('Resend verification email');
    const resend = () => browser.post('/verify-email/resend', { csrf_token: hiddenFields(page).csrf_token! });
    expect((await resend()).status).toBe(303);
    await awaitMail(user.email, 'Confirm your email address', 2);
    expect((await resend()).status).toBe(303);
    expect((await resend()).status).toBe(303);
    const limited = await resend();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('60');
  });

  it('at most 3 links an hour per user whatever the limiter lets through (the D1 cap)', async () => {
    const user = await createUser();
    await awaitMail(user.email, 'Confirm your email address');
    const browser = await signedInBrowser(user);
    const csrf = hiddenFields(await (await browser.get('/account')).text()).csrf_token!;
    for (let i = 0; i < 3; i++) await browser.post('/verify-email/resend', { csrf_token: csrf });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const links = await env.DB.prepare("SELECT count(*) AS n FROM email_tokens WHERE user_id = ? AND purpose = 'verify_email'")
      .bind(user.id)
      .first<{ n: number }>();
    expect(links?.n).toBe(3);
    expect((await mailTo(user.email)).length).toBe(3);
  });

  it('shows no notice once verified', async () => {
    const user = await createUser();
    const [mail] = await awaitMail(user.email, 'Confirm your email address');
    await follow(mailedLink(mail!, '/verify-email'));
    const browser = await signedInBrowser(user);
    expect(await (await browser.get('/account')).text()).not.toContain('not verified yet');
  });
});
