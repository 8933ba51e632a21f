import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, signedInBrowser, storedHash } from '../helpers';
import { addPasskey, postSignIn, registrationOptions, SoftAuthenticator, signInOptions } from '../webauthn-authenticator';

// W3C WebAuthn §13.4.3: a challenge is random, used once and short-lived, or
// a captured assertion (or attestation) could be played again. Tollgate keeps
// each challenge as a D1 row named by the hash of a cookie's random value and
// consumes it with one DELETE … RETURNING (never KV, which is eventually
// consistent), so an answer is taken at most once, only within
// WEBAUTHN_CHALLENGE_TTL, and only from the browser the challenge was given to.

async function sessionsOf(userId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from sessions where user_id = ?').bind(userId).first<{ n: number }>();
  return row!.n;
}

async function userWithPasskey() {
  const user = await createUser();
  const authenticator = new SoftAuthenticator({ counterStep: 0 });
  const response = await addPasskey(await signedInBrowser(user), authenticator);
  expect(response.status).toBe(303);
  return { user, authenticator };
}

describe('WebAuthn challenge replay', () => {
  it('an assertion is accepted once: posting it again (same browser, same cookie) is refused', async () => {
    const { user, authenticator } = await userWithPasskey();
    const browser = new Browser();
    const { csrf, options } = await signInOptions(browser);
    const challengeCookie = browser.cookies.get('tg_webauthn')!;
    const assertion = await authenticator.get(options);
    const sessionsBefore = await sessionsOf(user.id);
    expect((await postSignIn(browser, csrf, assertion)).status).toBe(303);
    // The attacker replays the whole request, cookie included.
    const replayer = new Browser();
    replayer.cookies.set('tg_csrf', browser.cookies.get('tg_csrf')!);
    replayer.cookies.set('tg_webauthn', challengeCookie);
    const replay = await postSignIn(replayer, csrf, assertion);
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('expired or was already used');
    expect(replayer.cookies.has('tg_session')).toBe(false);
    expect(await sessionsOf(user.id)).toBe(sessionsBefore + 1);
  });

  it('two posts of one assertion at once: exactly one signs in', async () => {
    const { user, authenticator } = await userWithPasskey();
    const browser = new Browser();
    const { csrf, options } = await signInOptions(browser);
    const assertion = await authenticator.get(options);
    const twin = new Browser();
    for (const [name, value] of browser.cookies) twin.cookies.set(name, value);
    const before = await sessionsOf(user.id);
    const statuses = (await Promise.all([postSignIn(browser, csrf, assertion), postSignIn(twin, csrf, assertion)]))
      .map((r) => r.status)
      .sort();
    expect(statuses).toEqual([303, 401]);
    expect(await sessionsOf(user.id)).toBe(before + 1);
  });

  it('an assertion for a challenge given to another browser is refused (no cookie, no challenge)', async () => {
    const { authenticator } = await userWithPasskey();
    const victimBrowser = new Browser();
    const { options } = await signInOptions(victimBrowser);
    const assertion = await authenticator.get(options);
    const attacker = new Browser();
    const { csrf } = await signInOptions(attacker); // a challenge of its own, which the assertion does not answer
    expect((await postSignIn(attacker, csrf, assertion)).status).toBe(401);
    // Nor with the right challenge's cookie missing altogether.
    const bare = new Browser();
    const csrfOnly = (await signInOptions(bare)).csrf;
    bare.cookies.delete('tg_webauthn');
    expect((await postSignIn(bare, csrfOnly, assertion)).status).toBe(401);
  });

  it('an expired challenge is refused, and its row is not reused', async () => {
    const { authenticator } = await userWithPasskey();
    const browser = new Browser();
    const { csrf, options } = await signInOptions(browser);
    const idHash = await storedHash(browser.cookies.get('tg_webauthn')!);
    await env.DB.prepare('update webauthn_challenges set expires_at = ? where id_hash = ?')
      .bind(Math.floor(Date.now() / 1000) - 1, idHash)
      .run();
    const response = await postSignIn(browser, csrf, await authenticator.get(options));
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('expired or was already used');
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('a registration challenge cannot answer a sign-in, nor a sign-in challenge a registration', async () => {
    const { user, authenticator } = await userWithPasskey();
    const browser = await signedInBrowser(user);
    // Registration options, then a sign-in post answering that challenge.
    const { csrf, options } = await registrationOptions(browser);
    const assertion = await authenticator.get({ challenge: options.challenge, rpId: 'localhost' });
    const signIn = await postSignIn(new Browser(), csrf, assertion);
    expect(signIn.status).toBe(403); // not even the CSRF cookie: a browser of its own
    const same = await browser.post('/login/passkey', { csrf_token: csrf, credential: JSON.stringify(assertion) });
    expect(same.status).toBe(401);
    // Sign-in options, then a registration post answering that challenge.
    const begun = await signInOptions(browser);
    const attestation = await new SoftAuthenticator().create({
      challenge: begun.options.challenge,
      rp: { id: 'localhost', name: 'Tollgate' },
      user: { id: 'eA', name: 'x', displayName: 'x' },
    });
    const added = await browser.post('/account/passkeys', { csrf_token: begun.csrf, credential: JSON.stringify(attestation) });
    expect(added.status).toBe(400);
    expect(await added.text()).toContain('expired or was already used');
  });

  it('a registration is accepted once: the same attestation posted again is refused', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const authenticator = new SoftAuthenticator();
    const { csrf, options } = await registrationOptions(browser);
    const credential = JSON.stringify(await authenticator.create(options));
    const cookie = browser.cookies.get('tg_webauthn')!;
    expect((await browser.post('/account/passkeys', { csrf_token: csrf, name: 'a', credential })).status).toBe(303);
    browser.cookies.set('tg_webauthn', cookie);
    expect((await browser.post('/account/passkeys', { csrf_token: csrf, name: 'b', credential })).status).toBe(400);
    const rows = await env.DB.prepare('select name from passkeys where user_id = ?').bind(user.id).all();
    expect(rows.results).toEqual([{ name: 'a' }]);
  });
});
