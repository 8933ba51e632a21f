import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { newUserCode, normalizeUserCode } from '../../src/services/device-authorization';
import { deviceRow, registerDeviceClient, requestDeviceAuthorization } from '../device-support';
import {
  Browser,
  createUser,
  hiddenFields,
  ISSUER,
  type RegisteredClient,
  signedInBrowser,
  storedHash,
  uniqueIp,
  userToken,
} from '../helpers';

// RFC 8628 §5.1: user codes are short (20^8, about 2.56e10), so guessing one
// must be impossible within its 10 minutes. Every lookup counts against the
// client network's limit and the account's (all its sessions); a signed-out
// browser is never looked up at all; and over a limit nothing is looked up,
// so even the right code is refused. The production limits (10 and 5 a
// minute, wrangler.toml) are wired here through TIGHT_LIMITER (2 a minute).

/** A made-up code that names no request (drawn like a real one: a hit has odds N / 2.56e10). */
function guess(): string {
  return newUserCode();
}

/** POST /device (or /device/answer) as `browser`, through the app with `overrides` on the bindings, from `ip`. */
async function post(
  browser: Browser,
  path: string,
  fields: Record<string, string>,
  overrides: Partial<typeof env>,
  ip: string,
): Promise<Response> {
  const page = await browser.get('/device');
  const hidden = hiddenFields(await page.text());
  const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  return app.request(
    `${ISSUER}${path}`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie, 'CF-Connecting-IP': ip },
      body: new URLSearchParams({ ...hidden, ...fields }).toString(),
    },
    { ...env, ...overrides },
  );
}

describe('user-code brute force (RFC 8628 §5.1)', () => {
  let client: RegisteredClient;

  beforeAll(async () => {
    client = await registerDeviceClient(await userToken(await createUser()));
  });

  it('per client network: past the limit every lookup is refused with 429, the right code too, from any account', async () => {
    const target = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    const tight = { USER_CODE_IP_LIMITER: env.TIGHT_LIMITER };
    const ip = uniqueIp();
    const attacker = await signedInBrowser(await createUser());
    expect((await post(attacker, '/device', { user_code: guess() }, tight, ip)).status).toBe(400);
    expect((await post(attacker, '/device', { user_code: guess() }, tight, ip)).status).toBe(400);
    const limited = await post(attacker, '/device', { user_code: target.user_code! }, tight, ip);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('60');
    expect(await limited.text()).toContain('Too many codes tried');
    // Another account on the same network is held too: accounts are cheap, networks are not.
    const accomplice = await signedInBrowser(await createUser());
    expect((await post(accomplice, '/device', { user_code: target.user_code! }, tight, ip)).status).toBe(429);
    // The consent form's endpoint is a lookup as well: guessing through it is held the same.
    const answered = await post(
      accomplice,
      '/device/answer',
      { user_code: target.user_code!.replace('-', ''), decision: 'allow' },
      tight,
      ip,
    );
    expect(answered.status).toBe(429);
    expect((await deviceRow(target.device_code!))?.status).toBe('pending');
  });

  it('per account: past the limit its lookups are refused from every network', async () => {
    const target = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    const tight = { USER_CODE_ACCOUNT_LIMITER: env.TIGHT_LIMITER };
    const attacker = await signedInBrowser(await createUser());
    expect((await post(attacker, '/device', { user_code: guess() }, tight, uniqueIp())).status).toBe(400);
    expect((await post(attacker, '/device', { user_code: guess() }, tight, '2001:db8:aaaa:1::1')).status).toBe(400);
    expect((await post(attacker, '/device', { user_code: target.user_code! }, tight, '2001:db8:bbbb:2::1')).status).toBe(429);
  });

  it('a signed-out browser is sent to sign in before any lookup: no guessing without an account', async () => {
    const tight = { USER_CODE_IP_LIMITER: env.TIGHT_LIMITER, USER_CODE_ACCOUNT_LIMITER: env.TIGHT_LIMITER };
    const ip = uniqueIp();
    const anonymous = new Browser();
    for (let i = 0; i < 4; i++) {
      const response = await post(anonymous, '/device', { user_code: guess() }, tight, ip);
      expect(response.status).toBe(303);
      expect(response.headers.get('Location')).toMatch(/^\/login\?return_to=/);
    }
    // None of those counted: a signed-in user on that network still has their lookups.
    const user = await signedInBrowser(await createUser());
    expect((await post(user, '/device', { user_code: guess() }, tight, ip)).status).toBe(400);
  });

  it('wrong, expired and used codes get the same answer: a guess learns nothing about which codes exist', async () => {
    const browser = await signedInBrowser(await createUser());
    const ip = uniqueIp();
    const wrong = await (await post(browser, '/device', { user_code: guess() }, {}, ip)).text();
    const expired = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    await env.DB.prepare('update device_authorizations set expires_at = 0 where device_code_hash = ?')
      .bind(await storedHash(expired.device_code!))
      .run();
    const old = await (await post(browser, '/device', { user_code: expired.user_code! }, {}, ip)).text();
    const message = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];
    expect(message(wrong)).toBeTruthy();
    expect(message(old)).toBe(message(wrong));
  });

  it('user codes are 8 unbiased consonants, never stored in clear, and compared without case or dash', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const code = newUserCode();
      expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
      for (const character of code) seen.set(character, (seen.get(character) ?? 0) + 1);
    }
    // 4,000 draws over 20 letters: each near 200 (a modulo bias would skew the first 16).
    expect(seen.size).toBe(20);
    for (const count of seen.values()) expect(count).toBeGreaterThan(120);
    expect(normalizeUserCode('bcdf-ghjk')).toBe('BCDFGHJK');
    expect(normalizeUserCode(' BCDF GHJK ')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BCDF-GHJA')).toBeNull();
    expect(normalizeUserCode('BCDF-GHJ')).toBeNull();

    const started = (await (await requestDeviceAuthorization(client, { scope: 'books:read' })).json()) as Record<string, string>;
    const everything = JSON.stringify(await env.DB.prepare('select * from device_authorizations').all());
    expect(everything).not.toContain(started.user_code!.replace('-', ''));
    expect(everything).not.toContain(started.device_code);
  });
});

describe('device authorization requests per client network', () => {
  it('past the limit a network gets 429 and nothing is stored: a public client id is no secret', async () => {
    const client = await registerDeviceClient(await userToken(await createUser()));
    const tight = { ...env, DEVICE_AUTHORIZATION_IP_LIMITER: env.TIGHT_LIMITER };
    const ip = uniqueIp();
    const ask = (address: string) =>
      app.request(
        `${ISSUER}/oauth2/device_authorization`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': address },
          body: new URLSearchParams({ client_id: client.client_id, scope: 'books:read' }).toString(),
        },
        tight,
      );
    expect((await ask(ip)).status).toBe(200);
    expect((await ask(ip)).status).toBe(200);
    const limited = await ask(ip);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ error: 'too_many_requests' });
    const stored = await env.DB.prepare('select count(*) as n from device_authorizations where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(2);
    // Another network is not held by it.
    expect((await ask(uniqueIp())).status).toBe(200);
  });
});
