import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, expectErrorPage, hiddenFields, signedInBrowser } from '../helpers';
import { answerAtProvider, identityOf, isSignedIn, oidcUser, startUpstream, upstreamSignIn, userByEmail } from '../upstream-support';

/**
 * Attacks on sign-in through an upstream provider (issue 17). Each must end
 * in a 4xx page, with nobody signed in and nothing linked or made.
 */

/** What the callback's state and iss checks (RFC 6749 §10.12, RFC 9207 §2.4) say, and nothing after them. */
const NOT_THIS_SIGN_IN = 'The answer from the provider does not belong to this sign-in.';

/** Whether the stand-in at `origin` saw the callback's code at its token endpoint (test/stand-ins/upstream-provider.js). */
async function codeReached(origin: string, callback: string): Promise<boolean> {
  const code = new URL(callback, 'http://x').searchParams.get('code')!;
  const response = await fetch(`${origin}/test/presented?code=${encodeURIComponent(code)}`);
  return ((await response.json()) as { presented: boolean }).presented;
}

async function expectNothingMade(browser: Browser, who: { sub: string; email?: string }) {
  expect(await identityOf('idp', who.sub)).toBeNull();
  if (who.email) expect(await userByEmail(who.email)).toBeNull();
  expect(await isSignedIn(browser)).toBe(false);
}

describe('login CSRF and replay (RFC 6749 §10.12, RFC 9700 §4.7)', () => {
  it('refuses a callback in a browser that started no sign-in (no pending cookie)', async () => {
    // The attacker signs in at the provider themselves and hands the victim the callback URL.
    const attacker = new Browser();
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(attacker), who);
    const victim = new Browser();
    expect(await expectErrorPage(await victim.get(callback), 400)).toContain('No sign-in is in progress');
    await expectNothingMade(victim, who);
  });

  it('refuses the attacker’s callback in a victim browser with its own sign-in pending (state mismatch)', async () => {
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(new Browser()), who);
    const victim = new Browser();
    await startUpstream(victim);
    const response = await victim.get(callback);
    // Refused by the state check itself, before the code is traded (PKCE would refuse it later, but only at the provider).
    expect(await expectErrorPage(response, 400)).toContain(NOT_THIS_SIGN_IN);
    expect(await codeReached('https://idp.example', callback)).toBe(false);
    await expectNothingMade(victim, who);
  });

  it('refuses a callback whose state was changed', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(browser), who);
    const url = new URL(callback, 'http://x');
    url.searchParams.set('state', 'forged-state');
    expect(await expectErrorPage(await browser.get(url.pathname + url.search), 400)).toContain(NOT_THIS_SIGN_IN);
    expect(await codeReached('https://idp.example', callback)).toBe(false);
    await expectNothingMade(browser, who);
  });

  it('uses a pending sign-in once: the same cookie and callback again are refused', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const authorization = await startUpstream(browser);
    const cookies = new Map(browser.cookies);
    const callback = await answerAtProvider(authorization, who);
    expect((await browser.get(callback)).status).toBe(303);
    // A copy of the browser from before the callback (the pending cookie intact), with a fresh code for the same state.
    const replay = new Browser();
    for (const [name, value] of cookies) replay.cookies.set(name, value);
    const again = await answerAtProvider(authorization, who);
    expect(await expectErrorPage(await replay.get(again), 400)).toContain('used already');
    expect(await isSignedIn(replay)).toBe(false);
  });

  it('refuses a pending cookie that was changed', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(browser), who);
    const sealed = browser.cookies.get('tg_upstream')!;
    browser.cookies.set('tg_upstream', `${sealed.slice(0, -4)}AAAA`);
    await expectErrorPage(await browser.get(callback), 400);
    await expectNothingMade(browser, who);
  });

  it('refuses a start from another site (CSRF on the Continue button)', async () => {
    const browser = new Browser();
    await browser.get('/login');
    const response = await browser.post('/login/upstream/idp', { csrf_token: 'guessed' });
    await expectErrorPage(response, 403);
    expect(browser.cookies.has('tg_upstream')).toBe(false);
  });
});

describe('the ID token (OIDC Core §3.1.3.7)', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['for another audience', { aud: 'someone-else' }],
    ['from another issuer', { iss: 'https://idp2.example' }],
    ['with another nonce (replayed from another sign-in)', { nonce: 'stolen-nonce' }],
    ['without a nonce', { nonce: null }],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 1200 }],
    ['signed with a key not in the provider’s JWKS', { sign: 'other-key' }],
  ];
  for (const [what, tamper] of cases) {
    it(`refuses an ID token ${what}`, async () => {
      const browser = new Browser();
      const who = oidcUser();
      const callback = await answerAtProvider(await startUpstream(browser), who, tamper);
      expect(await expectErrorPage(await browser.get(callback), 400)).toContain('Signing in with Example ID failed');
      await expectNothingMade(browser, who);
    });
  }
});

describe('mix-up between two configured providers (RFC 9207)', () => {
  it('refuses an answer whose iss is the other provider’s', async () => {
    // Sign-in started with idp; the answer (and its code) comes from idp2 to idp's callback.
    const browser = new Browser();
    const who = oidcUser();
    const atIdp = await startUpstream(browser, 'idp');
    const atIdp2 = new URL(atIdp.href.replace('https://idp.example/', 'https://idp2.example/'));
    const callback = await answerAtProvider(atIdp2, who);
    expect(callback).toContain(`iss=${encodeURIComponent('https://idp2.example')}`);
    // Refused by the iss check: idp2's code never reaches idp's token endpoint, where it would leak (RFC 9207 §1).
    expect(await expectErrorPage(await browser.get(callback), 400)).toContain(NOT_THIS_SIGN_IN);
    expect(await codeReached('https://idp.example', callback)).toBe(false);
    expect(await identityOf('idp-two', who.sub)).toBeNull();
    await expectNothingMade(browser, who);
  });

  it('refuses an answer without iss from a provider that says it sends one', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(browser), who, { iss_param: null });
    expect(await expectErrorPage(await browser.get(callback), 400)).toContain(NOT_THIS_SIGN_IN);
    expect(await codeReached('https://idp.example', callback)).toBe(false);
    await expectNothingMade(browser, who);
  });

  it('refuses a sign-in started with one provider and brought back to the other’s callback', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const callback = await answerAtProvider(await startUpstream(browser, 'idp'), who);
    const elsewhere = callback.replace('/login/upstream/idp/', '/login/upstream/idp-two/');
    expect(await expectErrorPage(await browser.get(elsewhere), 400)).toContain('another provider');
    await expectNothingMade(browser, who);
  });
});

describe('account takeover through an email address', () => {
  it('an unverified email matching an account links nothing and signs nobody in', async () => {
    const owner = await createUser();
    const browser = new Browser();
    const who = oidcUser({ email: owner.email, email_verified: false });
    const response = await upstreamSignIn(browser, who);
    expect(await expectErrorPage(response, 409)).toContain('already exists');
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await isSignedIn(browser)).toBe(false);
    expect(browser.cookies.has('tg_upstream_link')).toBe(false);
  });

  it('a verified email links nothing until the owner signs in: a session from before does not count', async () => {
    const owner = await createUser();
    // The owner's browser was signed in before; the attacker cannot make it link by sending it to the link page.
    const browser = await signedInBrowser(owner);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const who = oidcUser({ email: owner.email });
    expect((await upstreamSignIn(browser, who)).status).toBe(200);
    const link = await browser.get('/login/upstream/link');
    expect(link.status).toBe(302);
    const html = await (await browser.get('/account')).text();
    const post = await browser.post('/login/upstream/link', { csrf_token: hiddenFields(html).csrf_token! });
    expect(post.status).toBe(303);
    expect(post.headers.get('Location')).toContain('/login?return_to=');
    expect(await identityOf('idp', who.sub)).toBeNull();
  });

  it('a pending link cannot be completed by another account’s sign-in', async () => {
    const owner = await createUser();
    const someoneElse = await createUser();
    const browser = new Browser();
    const who = oidcUser({ email: owner.email });
    await upstreamSignIn(browser, who);
    await browser.submit('/login', { email: someoneElse.email, password: someoneElse.password });
    await expectErrorPage(await browser.get('/login/upstream/link'), 403);
    expect(await identityOf('idp', who.sub)).toBeNull();
  });

  it('a pending link is used once', async () => {
    const owner = await createUser();
    const browser = new Browser();
    const who = oidcUser({ email: owner.email });
    await upstreamSignIn(browser, who);
    const linkCookie = browser.cookies.get('tg_upstream_link')!;
    await browser.submit('/login?return_to=%2Flogin%2Fupstream%2Flink', { email: owner.email, password: owner.password });
    const html = await (await browser.get('/login/upstream/link')).text();
    expect((await browser.post('/login/upstream/link', hiddenFields(html))).status).toBe(303);
    await env.DB.prepare('DELETE FROM user_identities WHERE provider_id = ? AND subject = ?').bind('idp', who.sub).run();
    browser.cookies.set('tg_upstream_link', linkCookie);
    await expectErrorPage(await browser.post('/login/upstream/link', hiddenFields(html)), 409);
    expect(await identityOf('idp', who.sub)).toBeNull();
  });

  it('a pending sign-in cookie does not open as a pending link (typed JWE)', async () => {
    const browser = new Browser();
    await startUpstream(browser);
    browser.cookies.set('tg_upstream_link', browser.cookies.get('tg_upstream')!);
    await expectErrorPage(await browser.get('/login/upstream/link'), 400);
  });
});
