import { createExecutionContext, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { createUser, hiddenFields, ISSUER, signedInBrowser, uniqueIp } from '../helpers';
import { addPasskey, SoftAuthenticator } from '../webauthn-authenticator';

// Passkey sign-in is limited like password sign-in (OWASP Authentication
// Cheat Sheet): failed ceremonies count per client network and per account
// and network, and past a limit the network (or account from it) is paused a
// minute (429) before anything is checked, a right passkey included. And
// beginning a ceremony writes a D1 row for 5 minutes, so ceremonies begun are
// counted per client network (PASSKEY_CHALLENGE_IP_LIMITER). Each limit is
// tested with a limiter of 2 a minute swapped in for its binding.

/** A browser from one client network (CF-Connecting-IP) against the Worker with `bindings`. */
class NetworkBrowser {
  readonly cookies = new Map<string, string>();

  constructor(
    private readonly ip: string,
    private readonly bindings: typeof env,
  ) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('CF-Connecting-IP', this.ip);
    if (this.cookies.size > 0) headers.set('Cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await worker.fetch(
      new Request(new URL(path, ISSUER), { ...init, headers, redirect: 'manual' }),
      this.bindings,
      createExecutionContext(),
    );
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0\b/i.test(cookie)) this.cookies.delete(pair.slice(0, eq).trim());
      else this.cookies.set(pair.slice(0, eq).trim(), value);
    }
    return response;
  }

  post(path: string, fields: Record<string, string>): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  async csrf(): Promise<string> {
    return hiddenFields(await (await this.fetch('/login')).text()).csrf_token!;
  }
}

async function challengeRows(): Promise<number> {
  return (await env.DB.prepare('select count(*) as n from webauthn_challenges').first<{ n: number }>())!.n;
}

describe('passkey ceremonies begun, per client network', () => {
  it('past the limit: 429 with Retry-After, and no challenge row is written', async () => {
    const tight = { ...env, PASSKEY_CHALLENGE_IP_LIMITER: env.TIGHT_LIMITER };
    const browser = new NetworkBrowser(uniqueIp(), tight);
    const csrf = await browser.csrf();
    expect((await browser.post('/login/passkey/options', { csrf_token: csrf })).status).toBe(200);
    expect((await browser.post('/login/passkey/options', { csrf_token: csrf })).status).toBe(200);
    const before = await challengeRows();
    const limited = await browser.post('/login/passkey/options', { csrf_token: csrf });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('60');
    expect(((await limited.json()) as { error: string }).error).toBe('too_many_requests');
    expect(await challengeRows()).toBe(before);
    // Another network is counted apart.
    const other = new NetworkBrowser(uniqueIp(), tight);
    expect((await other.post('/login/passkey/options', { csrf_token: await other.csrf() })).status).toBe(200);
  });
});

describe('failed passkey sign-ins, per client network', () => {
  it('past the limit the network is paused: 429, audited sign_in_limited, and even a right passkey waits', async () => {
    const user = await createUser();
    const authenticator = new SoftAuthenticator();
    expect((await addPasskey(await signedInBrowser(user), authenticator)).status).toBe(303);
    const tight = { ...env, SIGN_IN_IP_LIMITER: env.TIGHT_LIMITER };
    const browser = new NetworkBrowser(uniqueIp(), tight);
    const csrf = await browser.csrf();
    const attempt = async (overrides: { origin?: string } = {}) => {
      const options = (await (await browser.post('/login/passkey/options', { csrf_token: csrf })).json()) as {
        challenge: string;
        rpId: string;
      };
      const credential = await authenticator.get(options, overrides);
      return browser.post('/login/passkey', { csrf_token: csrf, return_to: '/account', credential: JSON.stringify(credential) });
    };
    expect((await attempt({ origin: 'https://evil.example' })).status).toBe(401);
    expect((await attempt({ origin: 'https://evil.example' })).status).toBe(401);
    const limited = await attempt({ origin: 'https://evil.example' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('60');
    expect(await limited.text()).toContain('Too many attempts.');
    const audit = await env.DB.prepare("select count(*) as n from audit_events where user_id = ? and type = 'sign_in_limited'")
      .bind(user.id)
      .first();
    expect(audit).toEqual({ n: 1 });
    // The right passkey from the same network waits out the pause: nothing is checked.
    const right = await attempt();
    expect(right.status).toBe(429);
    expect(browser.cookies.has('tg_session')).toBe(false);
    expect(await env.DB.prepare('select counter from passkeys where user_id = ?').bind(user.id).first()).toEqual({ counter: 0 });
  });
});
