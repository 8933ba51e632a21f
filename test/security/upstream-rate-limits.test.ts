import { createExecutionContext, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { Browser, hiddenFields, ISSUER, uniqueIp } from '../helpers';
import { answerAtProvider, identityOf, isSignedIn, oidcUser, startUpstream, userByEmail } from '../upstream-support';

// Upstream sign-ins begun and callbacks answered are counted per client
// network (UPSTREAM_IP_LIMITER): each costs fetches to the provider and a
// callback D1 writes. Tested with a limiter of 2 a minute swapped in.

/** A browser from client network `ip` (CF-Connecting-IP) against the Worker with a tight upstream limit. */
class NetworkBrowser extends Browser {
  constructor(public ip: string | null) {
    super();
  }

  override async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.ip !== null) headers.set('CF-Connecting-IP', this.ip);
    if (this.cookies.size > 0) headers.set('Cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    const tight = { ...env, UPSTREAM_IP_LIMITER: env.TIGHT_LIMITER };
    const response = await worker.fetch(
      new Request(new URL(path, ISSUER), { ...init, headers, redirect: 'manual' }),
      tight,
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
}

async function usedRequests(): Promise<number> {
  return (await env.DB.prepare('SELECT count(*) AS n FROM upstream_requests_used').first<{ n: number }>())!.n;
}

async function expectLimitedPage(response: Response): Promise<void> {
  expect(response.status).toBe(429);
  expect(response.headers.get('Retry-After')).toBe('60');
  const html = await response.text();
  expect(html).toContain('Too many attempts. Wait a minute and try again.');
  // The sign-in page, with its forms: the user can still sign in another way.
  expect(html).toContain('action="/login"');
}

describe('upstream sign-ins per client network', () => {
  it('past the limit, starting one answers 429 with the sign-in page and sets no pending cookie', async () => {
    const browser = new NetworkBrowser(uniqueIp());
    await startUpstream(browser);
    await startUpstream(browser);
    browser.cookies.delete('tg_upstream');
    const csrf = hiddenFields(await (await browser.get('/login')).text()).csrf_token!;
    const limited = await browser.post('/login/upstream/idp', { csrf_token: csrf, return_to: '/account' });
    await expectLimitedPage(limited);
    expect(limited.headers.get('Location')).toBeNull();
    expect(browser.cookies.has('tg_upstream')).toBe(false);
    // Another network is counted apart.
    await startUpstream(new NetworkBrowser(uniqueIp()));
  });

  it('past the limit, a callback answers 429 and stores nothing; the pending sign-in stays for later', async () => {
    const browser = new NetworkBrowser(uniqueIp());
    await startUpstream(browser);
    const authorization = await startUpstream(browser);
    const who = oidcUser();
    const callback = await answerAtProvider(authorization, who);
    const usedBefore = await usedRequests();

    await expectLimitedPage(await browser.get(callback));
    expect(await usedRequests()).toBe(usedBefore);
    expect(await userByEmail(who.email!)).toBeNull();
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(browser.cookies.has('tg_upstream')).toBe(true);

    // The same browser from a network under its limit: the pending sign-in was not used up.
    browser.ip = uniqueIp();
    const done = await browser.get(callback);
    expect(done.status).toBe(303);
    expect(await isSignedIn(browser)).toBe(true);
    expect(await usedRequests()).toBe(usedBefore + 1);
  });

  it('without a client network (local development, no CF-Connecting-IP) nothing is counted', async () => {
    const browser = new NetworkBrowser(null);
    for (let i = 0; i < 3; i++) await startUpstream(browser);
  });
});
