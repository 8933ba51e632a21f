import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import { Browser, basic, createUser, form, hiddenFields, ISSUER, json, registerClient, unique, uniqueIp, userToken } from './helpers';

// Each limit is exercised against the simulated Rate Limiting binding. The
// per-account and per-client limits run with their production settings from
// wrangler.toml; registrations and sign-ups swap in a 2-a-minute limiter.

async function expectTooMany(response: Response): Promise<void> {
  expect(response.status).toBe(429);
  expect(response.headers.get('Retry-After')).toBe('60');
}

describe('failed sign-ins per account (SIGN_IN_LIMITER: 10 a minute)', () => {
  it('answers 429 after ten failures, then refuses even the right password for a minute', async () => {
    const user = await createUser();
    for (let i = 0; i < 10; i++) {
      const response = await json('/api/login', { email: user.email, password: `wrong ${i}` });
      expect(response.status).toBe(401);
    }
    const eleventh = await json('/api/login', { email: user.email, password: 'wrong again' });
    await expectTooMany(eleventh);
    expect(await eleventh.json()).toMatchObject({ error: 'too_many_requests' });
    // Locked: the password is not even checked, so a guess cannot be confirmed.
    await expectTooMany(await json('/api/login', { email: user.email, password: user.password }));
    // Other accounts are untouched.
    const other = await createUser();
    expect((await json('/api/login', { email: other.email, password: other.password })).status).toBe(200);
  });

  it('shows the lock on the sign-in page too, as a page with 429', async () => {
    const user = await createUser();
    const browser = new Browser();
    for (let i = 0; i < 10; i++) await json('/api/login', { email: user.email, password: `wrong ${i}` });
    await json('/api/login', { email: user.email, password: 'one more' });
    const page = await browser.submit('/login', { email: user.email, password: user.password });
    await expectTooMany(page);
    expect(await page.text()).toContain('Too many attempts');
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('counts failures per email regardless of case', async () => {
    const user = await createUser();
    for (let i = 0; i < 11; i++) await json('/api/login', { email: i % 2 ? user.email.toUpperCase() : user.email, password: 'nope nope' });
    await expectTooMany(await json('/api/login', { email: user.email, password: user.password }));
  });
});

describe('failed sign-ins per IP (SIGN_IN_IP_LIMITER: 30 a minute)', () => {
  it('locks an IP that fails across many accounts, and only that IP', async () => {
    const ip = uniqueIp();
    const headers = { 'CF-Connecting-IP': ip };
    let locked = false;
    // Up to twice the limit and two more: a fixed window that ends mid-run
    // resets the count once, and the lock must still come.
    for (let i = 0; i < 2 * 30 + 2 && !locked; i++) {
      const response = await json('/api/login', { email: `${unique('spray')}@example.com`, password: 'password1' }, { headers });
      locked = response.status === 429;
    }
    expect(locked).toBe(true);
    const user = await createUser();
    await expectTooMany(await json('/api/login', { email: user.email, password: user.password }, { headers }));
    expect(
      (await json('/api/login', { email: user.email, password: user.password }, { headers: { 'CF-Connecting-IP': '203.0.113.9' } })).status,
    ).toBe(200);
  });
});

describe('failed client authentications per client (CLIENT_AUTH_LIMITER: 20 a minute)', () => {
  it('answers 429 past twenty failures, and never locks out the right secret', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), {
      grant_types: ['client_credentials'],
      redirect_uris: [],
      scope: 'books:read',
    });
    const attempt = (secret: string) =>
      form('/oauth2/token', { grant_type: 'client_credentials' }, { Authorization: basic(client.client_id, secret) });
    for (let i = 0; i < 20; i++) expect((await attempt(`wrong-${i}`)).status).toBe(401);
    const over = await attempt('wrong-again');
    await expectTooMany(over);
    expect(await over.json()).toMatchObject({ error: 'too_many_requests' });
    // The real client, with its real secret, still gets tokens.
    expect((await attempt(client.client_secret!)).status).toBe(200);
  });
});

describe('client registrations per user', () => {
  it('answers 429 past the limit (2 a minute in this test)', async () => {
    const owner = await createUser();
    const token = await userToken(owner);
    const tightEnv = { ...env, REGISTRATION_LIMITER: env.TIGHT_LIMITER };
    const register = () =>
      app.request(
        `${ISSUER}/oauth2/register`,
        {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ redirect_uris: ['https://app.example/cb'] }),
        },
        tightEnv,
      );
    expect((await register()).status).toBe(201);
    expect((await register()).status).toBe(201);
    const third = await register();
    await expectTooMany(third);
    expect(await third.json()).toMatchObject({ error: 'too_many_requests' });
    const stored = await env.DB.prepare('select count(*) as n from clients where owner_id = ?').bind(owner.id).first<{ n: number }>();
    expect(stored?.n).toBe(2);
  });
});

describe('sign-ups per IP', () => {
  it('answers 429 past the limit (2 a minute in this test), only for that IP', async () => {
    const tightEnv = { ...env, SIGNUP_IP_LIMITER: env.TIGHT_LIMITER };
    const ip = uniqueIp();
    const signup = (address: string) =>
      app.request(
        `${ISSUER}/api/users`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': address },
          body: JSON.stringify({ email: `${unique('flood')}@example.com`, password: 'long enough pw', name: 'Flood' }),
        },
        tightEnv,
      );
    expect((await signup(ip)).status).toBe(201);
    expect((await signup(ip)).status).toBe(201);
    await expectTooMany(await signup(ip));
  });

  it('limits the sign-up page as well', async () => {
    const browser = new Browser();
    const html = await (await browser.get('/signup')).text();
    const fields = { ...hiddenFields(html), name: 'Page', password: 'long enough pw' };
    const ip = uniqueIp();
    const post = (email: string) =>
      app.request(
        `${ISSUER}/signup`,
        {
          method: 'POST',
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            'CF-Connecting-IP': ip,
            Cookie: [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
          },
          body: new URLSearchParams({ ...fields, email }).toString(),
        },
        { ...env, SIGNUP_IP_LIMITER: env.TIGHT_LIMITER },
      );
    expect((await post(`${unique('p')}@example.com`)).status).toBe(303);
    expect((await post(`${unique('p')}@example.com`)).status).toBe(303);
    const third = await post(`${unique('p')}@example.com`);
    await expectTooMany(third);
    expect(await third.text()).toContain('Too many sign-ups');
  });
});
