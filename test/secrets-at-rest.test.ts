import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import {
  authorizeWithConsent,
  Browser,
  basic,
  createUser,
  form,
  ISSUER,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

/** Every row of every Tollgate table, as text. */
async function dumpD1(): Promise<string> {
  const tables = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name != 'd1_migrations'",
  ).all<{ name: string }>();
  expect(tables.results.map((t) => t.name)).toEqual(expect.arrayContaining(['users', 'clients', 'codes', 'refresh_tokens', 'sessions']));
  const dumps = await Promise.all(
    tables.results.map(async ({ name }) => JSON.stringify((await env.DB.prepare(`select * from "${name}"`).all()).results)),
  );
  return dumps.join('\n');
}

/** Every KV key and value, as text. */
async function dumpKv(): Promise<string> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.KV.list(cursor ? { cursor } : {});
    for (const key of page.keys) out.push(key.name, (await env.KV.get(key.name)) ?? '');
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out.join('\n');
}

describe('secrets at rest', () => {
  it('keeps no issued secret in clear anywhere in D1 or KV after a full flow', async () => {
    const user = await createUser({ password: 'plaintext-password-canary-42' });
    const ownerToken = await userToken(user);
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    const browser = await signedInBrowser(user);
    const session = browser.cookies.get('tg_session')!;
    // A code that is still unredeemed while we look, and one that was redeemed.
    const pending = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const used = await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' });
    const tokens = (await (await redeem(client, used)).json()) as { refresh_token: string; access_token: string };
    const rotated = await form(
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    const { refresh_token: second } = (await rotated.json()) as { refresh_token: string };

    const secrets = {
      password: user.password,
      clientSecret: client.client_secret!,
      pendingCode: pending.code,
      redeemedCode: used.code,
      firstRefreshToken: tokens.refresh_token,
      secondRefreshToken: second,
      sessionCookie: session,
    };
    const stored = `${await dumpD1()}\n${await dumpKv()}`;
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.length, name).toBeGreaterThanOrEqual(20);
      expect(stored.includes(secret), `${name} is stored in clear`).toBe(false);
    }
    // The scan sees real data: the stored forms are there, hashed.
    expect(stored).toContain(client.client_id);
    expect(stored).toContain('pbkdf2-sha256-nfkc$100000$');
  });
});

describe('cookies under an https issuer', () => {
  it('are __Host- prefixed, Secure, HttpOnly and SameSite=Lax', async () => {
    const httpsEnv = { ...env, ISSUER: 'https://auth.example' };
    const page = await app.request('https://auth.example/login', {}, httpsEnv);
    const csrf = page.headers.getSetCookie().find((c) => c.startsWith('__Host-tg_csrf='))!;
    expect(csrf).toMatch(/; Secure/);
    expect(csrf).toMatch(/; HttpOnly/);
    expect(csrf).toMatch(/; SameSite=Lax/);
    expect(csrf).toMatch(/; Path=\//);
    expect(csrf).not.toMatch(/Domain=/i);

    const user = await createUser();
    const html = await page.text();
    const token = /name="csrf_token" value="([^"]+)"/.exec(html)![1]!;
    const signedIn = await app.request(
      'https://auth.example/login',
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: csrf.split(';')[0]! },
        body: new URLSearchParams({ csrf_token: token, email: user.email, password: user.password }).toString(),
      },
      httpsEnv,
    );
    expect(signedIn.status).toBe(303);
    const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('__Host-tg_session='))!;
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; SameSite=Lax/);
  });

  it('are plain names without Secure for http://localhost development', async () => {
    const page = await new Browser().get('/login');
    expect(page.headers.getSetCookie().some((c) => c.startsWith('tg_csrf=') && !/Secure/.test(c))).toBe(true);
    expect(ISSUER.startsWith('http://')).toBe(true);
  });
});
