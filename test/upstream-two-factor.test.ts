import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, codeFlowRequest, createUser, decodeJwt, issueTokens, registerClient, userToken } from './helpers';
import { enterCode, turnOnTwoFactor } from './totp-support';
import { isSignedIn, oidcUser, upstreamSignIn, userByEmail } from './upstream-support';
import { addPasskey, SoftAuthenticator } from './webauthn-authenticator';

// An upstream sign-in is the first step only: a user with two-factor on is
// still asked for the code (the same pending sign-in as after a password,
// routes/two-factor.tsx), and the session then says `["fed","otp"]`.

/** A user made by an upstream sign-in, with two-factor turned on from /account. */
async function upstreamUserWithTwoFactor() {
  const who = oidcUser();
  const first = new Browser();
  expect((await upstreamSignIn(first, who)).status).toBe(303);
  const setup = await turnOnTwoFactor(first);
  const user = await userByEmail(who.email!);
  return { who, user: user!, app: setup.app };
}

async function sessionsOf(userId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(userId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** The `amr` of each of the user's sessions, shortest first. */
async function amrsOf(userId: string): Promise<string[][]> {
  const { results } = await env.DB.prepare('SELECT amr FROM sessions WHERE user_id = ?').bind(userId).all<{ amr: string }>();
  return results.map((row) => JSON.parse(row.amr) as string[]).sort((a, b) => a.length - b.length);
}

/** How many sign-in audit events of each kind the user has. */
async function auditCounts(userId: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    "SELECT type, count(*) AS n FROM audit_events WHERE user_id = ? AND type IN ('sign_in', 'upstream_accepted') GROUP BY type",
  )
    .bind(userId)
    .all<{ type: string; n: number }>();
  return Object.fromEntries(results.map((row) => [row.type, row.n]));
}

describe('an upstream sign-in of a user with two-factor on', () => {
  it('asks for the code; with it the session and the ID token say amr ["fed","otp"], acr mfa', async () => {
    const { who, user, app } = await upstreamUserWithTwoFactor();
    const client = await registerClient(await userToken(await createUser()));
    const sessionsBefore = await sessionsOf(user.id);

    const browser = new Browser();
    const callback = await upstreamSignIn(browser, who);
    expect(callback.status).toBe(303);
    expect(callback.headers.get('Location')).toBe('/login/two-factor');
    // No session until the code: the provider's word alone does not sign in,
    // and is audited as the first step only (as a password's is).
    expect(await sessionsOf(user.id)).toBe(sessionsBefore);
    expect(await isSignedIn(browser)).toBe(false);
    expect(await auditCounts(user.id)).toEqual({ sign_in: 1, upstream_accepted: 1 });

    const done = await enterCode(browser, await app.nextCode());
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe('/account');
    expect(await isSignedIn(browser)).toBe(true);
    expect(await amrsOf(user.id)).toEqual([['fed'], ['fed', 'otp']]);
    expect(await auditCounts(user.id)).toEqual({ sign_in: 2, upstream_accepted: 1 });

    const tokens = await issueTokens(browser, client, { scope: 'openid' });
    const { payload } = decodeJwt(tokens.id_token!);
    expect(payload.sub).toBe(user.id);
    expect(payload.amr).toEqual(['fed', 'otp']);
    expect(payload.acr).toBe('urn:tollgate:acr:mfa');
  });

  it('a wrong code signs nobody in', async () => {
    const { who, user } = await upstreamUserWithTwoFactor();
    const sessionsBefore = await sessionsOf(user.id);
    const browser = new Browser();
    expect((await upstreamSignIn(browser, who)).headers.get('Location')).toBe('/login/two-factor');
    expect((await enterCode(browser, '000000')).status).toBe(401);
    expect(await sessionsOf(user.id)).toBe(sessionsBefore);
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('the code step cannot be skipped: /account and the authorization endpoint send the browser to sign in', async () => {
    const { who, user, app } = await upstreamUserWithTwoFactor();
    const client = await registerClient(await userToken(await createUser()));
    const browser = new Browser();
    expect((await upstreamSignIn(browser, who)).headers.get('Location')).toBe('/login/two-factor');

    const { url } = await codeFlowRequest(client);
    const skipped = await browser.get(url);
    expect(skipped.status).toBe(302);
    expect(skipped.headers.get('Location')).toMatch(/^\/login\?/);
    const silent = await browser.get(`${url}&prompt=none`);
    expect(new URL(silent.headers.get('Location')!).searchParams.get('error')).toBe('login_required');
    expect((await browser.get('/account')).status).toBe(302);

    // The code step is still there to finish.
    expect((await enterCode(browser, await app.nextCode())).status).toBe(303);
    expect(await isSignedIn(browser)).toBe(true);
    expect(await sessionsOf(user.id)).toBeGreaterThan(0);
  });

  it('a session from an upstream sign-in and a code does not count as the owner signing in to link another provider', async () => {
    const { who, app } = await upstreamUserWithTwoFactor();
    const browser = new Browser();
    await upstreamSignIn(browser, who);
    expect((await enterCode(browser, await app.nextCode())).status).toBe(303);
    // The same verified email at the second provider: a link is needed, and this
    // session (fed + otp) is not the account's own password or passkey.
    const second = await upstreamSignIn(browser, { ...oidcUser(), email: who.email, email_verified: true }, { provider: 'idp-two' });
    expect(second.status).toBe(200);
    const confirm = await browser.get('/login/upstream/link');
    expect(confirm.status).toBe(302);
    expect(confirm.headers.get('Location')).toMatch(/^\/login\?/);
  });
});

describe('an upstream sign-in of a user without two-factor', () => {
  it('a passkey-holder without TOTP signs in at once, amr ["fed"]', async () => {
    const who = oidcUser();
    const first = new Browser();
    expect((await upstreamSignIn(first, who)).status).toBe(303);
    expect((await addPasskey(first, new SoftAuthenticator())).status).toBe(303);
    const user = await userByEmail(who.email!);

    const browser = new Browser();
    const callback = await upstreamSignIn(browser, who);
    expect(callback.status).toBe(303);
    expect(callback.headers.get('Location')).toBe('/account');
    expect(await isSignedIn(browser)).toBe(true);
    // The first browser's session and this one: both the provider's word alone.
    expect(await amrsOf(user!.id)).toEqual([['fed'], ['fed']]);
  });
});
