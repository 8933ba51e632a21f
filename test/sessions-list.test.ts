import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { deviceName } from '../src/services/sessions-list';
import { Browser, createUser, hiddenFields, type TestUser } from './helpers';

const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A browser that sends a User-Agent, signed in as `user` through /login. */
class AgentBrowser extends Browser {
  constructor(private readonly userAgent: string) {
    super();
  }

  override fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('User-Agent', this.userAgent);
    return super.fetch(path, { ...init, headers });
  }
}

async function signIn(user: TestUser, userAgent: string): Promise<AgentBrowser> {
  const browser = new AgentBrowser(userAgent);
  expect((await browser.submit('/login', { email: user.email, password: user.password })).status).toBe(303);
  return browser;
}

/** The End session forms on a page: their actions. */
function endSessionActions(html: string): string[] {
  return [...html.matchAll(/action="(\/account\/sessions\/[^"]+\/end)"/g)].map((match) => match[1]!);
}

describe('deviceName', () => {
  it.each([
    [FIREFOX_LINUX, 'Firefox on Linux'],
    [CHROME_MAC, 'Chrome on macOS'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0',
      'Edge on Windows',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
      'Safari on iOS',
    ],
    ['Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36', 'Chrome on Android'],
    ['curl/8.5.0', 'curl'],
    [null, 'Unknown device'],
  ])('%s → %s', (userAgent, name) => {
    expect(deviceName(userAgent)).toBe(name);
  });
});

describe('the sessions list on /account', () => {
  it('lists each session with its device, marks the current one, and offers End session for the others only', async () => {
    const user = await createUser();
    const laptop = await signIn(user, FIREFOX_LINUX);
    await signIn(user, CHROME_MAC);
    const html = await (await laptop.get('/account')).text();
    expect(html).toContain('Where you are signed in');
    expect(html).toContain('Firefox on Linux');
    expect(html).toContain('Chrome on macOS');
    expect(html).toContain('this browser');
    expect(endSessionActions(html)).toHaveLength(1);
    expect(html).toContain('<button type="submit" class="secondary" aria-label="End session on Chrome on macOS">End session</button>');
    // The page never carries a session's stored id.
    const ids = await env.DB.prepare('SELECT id_hash FROM sessions WHERE user_id = ?').bind(user.id).all<{ id_hash: string }>();
    for (const row of ids.results) expect(html).not.toContain(row.id_hash);
  });

  it('stores the User-Agent cut short', async () => {
    const user = await createUser();
    await signIn(user, `${FIREFOX_LINUX} ${'x'.repeat(1000)}`);
    const row = await env.DB.prepare('SELECT length(user_agent) AS n, last_seen_at FROM sessions WHERE user_id = ?')
      .bind(user.id)
      .first<{ n: number; last_seen_at: number }>();
    expect(row?.n).toBe(256);
    expect(row?.last_seen_at).toBeGreaterThan(0);
  });

  it('End session ends that session (its browser is signed out) and not the current one', async () => {
    const user = await createUser();
    const laptop = await signIn(user, FIREFOX_LINUX);
    const phone = await signIn(user, CHROME_MAC);
    const html = await (await laptop.get('/account')).text();
    const [action] = endSessionActions(html);
    const ended = await laptop.post(action!, { csrf_token: hiddenFields(html).csrf_token! });
    expect(ended.status).toBe(303);
    expect(ended.headers.get('Location')).toBe('/account');
    expect((await phone.get('/account')).status).toBe(302);
    const after = await laptop.get('/account');
    expect(after.status).toBe(200);
    expect(await after.text()).not.toContain('Chrome on macOS');
  });

  it("another user's session cannot be ended: 404, and it stays", async () => {
    const victim = await createUser();
    const victimBrowser = await signIn(victim, CHROME_MAC);
    await signIn(victim, FIREFOX_LINUX);
    const [victimAction] = endSessionActions(await (await victimBrowser.get('/account')).text());
    const attacker = await signIn(await createUser(), FIREFOX_LINUX);
    const attackerPage = await (await attacker.get('/account')).text();
    const refused = await attacker.post(victimAction!, { csrf_token: hiddenFields(attackerPage).csrf_token! });
    expect(refused.status).toBe(404);
    const left = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(victim.id).first<{ n: number }>();
    expect(left?.n).toBe(2);
  });

  it('End session needs the CSRF token (403) and a signed-in browser', async () => {
    const user = await createUser();
    const laptop = await signIn(user, FIREFOX_LINUX);
    await signIn(user, CHROME_MAC);
    const [action] = endSessionActions(await (await laptop.get('/account')).text());
    expect((await laptop.post(action!, { csrf_token: 'wrong' })).status).toBe(403);
    const left = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(user.id).first<{ n: number }>();
    expect(left?.n).toBe(2);
    const anonymous = new Browser();
    const csrf = hiddenFields(await (await anonymous.get('/login')).text()).csrf_token!;
    const signedOut = await anonymous.post(action!, { csrf_token: csrf });
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get('Location')).toBe('/login?return_to=%2Faccount');
  });

  it('notes last seen at most every 5 minutes, after the response', async () => {
    const user = await createUser();
    const laptop = await signIn(user, FIREFOX_LINUX);
    const stale = 1_000;
    await env.DB.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').bind(stale, user.id).run();
    expect((await laptop.get('/account')).status).toBe(200);
    let seen = stale;
    for (let tries = 0; tries < 50 && seen === stale; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = (await env.DB.prepare('SELECT last_seen_at AS at FROM sessions WHERE user_id = ?').bind(user.id).first<{ at: number }>())!.at;
    }
    expect(seen).toBeGreaterThan(stale);
    // Within the interval a page view writes nothing.
    const recent = seen - 60;
    await env.DB.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').bind(recent, user.id).run();
    await laptop.get('/account');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const unchanged = await env.DB.prepare('SELECT last_seen_at AS at FROM sessions WHERE user_id = ?')
      .bind(user.id)
      .first<{ at: number }>();
    expect(unchanged?.at).toBe(recent);
  });
});
