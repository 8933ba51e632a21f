import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import { UPSTREAM_REQUEST_TTL } from '../src/config';
import { createDeps } from '../src/deps';
import { openPending, type PendingSignIn, sealPending } from '../src/services/upstream-pending';
import { Browser, createUser, expectErrorPage, hiddenFields, ISSUER, signedInBrowser } from './helpers';
import {
  answerAtProvider,
  identitiesOf,
  identityOf,
  isSignedIn,
  oidcUser,
  startUpstream,
  upstreamSignIn,
  userByEmail,
} from './upstream-support';
import { addPasskey, SoftAuthenticator } from './webauthn-authenticator';

async function auditTypes(userId: string): Promise<string[]> {
  const { results } = await env.DB.prepare('SELECT type FROM audit_events WHERE user_id = ? ORDER BY id')
    .bind(userId)
    .all<{ type: string }>();
  return results.map((row) => row.type);
}

/** The Continue with <name> forms a sign-in page has, by provider id. */
function continueForms(html: string): string[] {
  return [...html.matchAll(/<form method="post" action="\/login\/upstream\/([a-z-]+)"/g)].map((match) => match[1]!);
}

describe('GET /login with upstream providers', () => {
  it('shows a Continue with <name> button per provider, after the password form', async () => {
    const html = await (await new Browser().get('/login')).text();
    expect(html).toContain('Continue with Example ID</button>');
    expect(html).toContain('Continue with Second ID</button>');
    expect(html).toContain('Continue with GitHub</button>');
    // The password form stays the page's first form.
    expect(html.indexOf('action="/login"')).toBeLessThan(html.indexOf('action="/login/upstream/idp"'));
  });

  it('sends the browser to the provider with PKCE (S256), state, nonce and the callback URI', async () => {
    const url = await startUpstream(new Browser());
    expect(url.origin + url.pathname).toBe('https://idp.example/authorize');
    const params = url.searchParams;
    expect(params.get('client_id')).toBe('tollgate-test');
    expect(params.get('redirect_uri')).toBe(`${ISSUER}/login/upstream/idp/callback`);
    expect(params.get('response_type')).toBe('code');
    expect(params.get('scope')).toBe('openid email profile');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('state')?.length).toBeGreaterThanOrEqual(32);
    expect(params.get('nonce')?.length).toBeGreaterThanOrEqual(32);
  });

  it('keeps the Continue with forms on every answer of the sign-in page, errors too', async () => {
    const user = await createUser();
    const browser = new Browser();
    const csrf = hiddenFields(await (await browser.get('/login')).text()).csrf_token!;
    const answers: [string, Response, number][] = [
      ['a wrong password', await browser.submit('/login', { email: user.email, password: 'not-the-password' }), 401],
      ['missing fields', await browser.post('/login', { csrf_token: csrf, email: user.email }), 400],
      ['a passkey sign-in with no passkey', await browser.post('/login/passkey', { csrf_token: csrf }), 400],
      ['a two-factor code with no sign-in pending', await browser.post('/login/two-factor', { csrf_token: csrf, code: '123456' }), 401],
    ];
    for (const [what, response, status] of answers) {
      expect(response.status, what).toBe(status);
      const html = await response.text();
      expect(html, what).toContain('role="alert"');
      expect(continueForms(html), what).toEqual(['idp', 'idp-two', 'gh']);
    }
  });

  it('answers 404 for a provider that is not configured', async () => {
    const browser = new Browser();
    const html = await (await browser.get('/login')).text();
    const response = await browser.post('/login/upstream/nobody', { csrf_token: hiddenFields(html).csrf_token! });
    await expectErrorPage(response, 404);
  });
});

describe('a bad UPSTREAM_PROVIDERS', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '[{', /not valid JSON/],
    ['an oidc provider without issuer', JSON.stringify([{ id: 'x', name: 'X', type: 'oidc', client_id: 'c' }]), /issuer/],
    ['an http issuer', JSON.stringify([{ id: 'x', name: 'X', type: 'oidc', issuer: 'http://idp.example', client_id: 'c' }]), /https/],
    ['an unknown type', JSON.stringify([{ id: 'x', name: 'X', type: 'saml', client_id: 'c' }]), /type/],
    [
      'a missing secret',
      JSON.stringify([{ id: 'nosecret', name: 'X', type: 'github', client_id: 'c' }]),
      /UPSTREAM_NOSECRET_CLIENT_SECRET/,
    ],
  ];
  for (const [what, value, problem] of cases) {
    it(`(${what}) leaves password sign-in working and makes the provider pages a 503 that says why`, async () => {
      const badEnv = { ...env, UPSTREAM_PROVIDERS: value };
      const login = await app.request(`${ISSUER}/login`, {}, badEnv);
      expect(login.status).toBe(200);
      const html = await login.text();
      expect(html).toContain('action="/login"');
      expect(html).not.toContain('Continue with');
      const callback = await app.request(`${ISSUER}/login/upstream/x/callback?code=a&state=b`, {}, badEnv);
      expect(callback.status).toBe(503);
      expect(await callback.text()).toMatch(problem);
    });
  }
});

describe('signing in through an OpenID provider', () => {
  it('makes a user on the first sign-in (verified email), signs the same user in the second time, session amr fed', async () => {
    const who = oidcUser({ name: 'Grace Hopper' });
    const first = new Browser();
    const response = await upstreamSignIn(first, who);
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account');
    const user = await userByEmail(who.email!);
    expect(user?.name).toBe('Grace Hopper');
    expect(user?.email_verified_at).not.toBeNull();
    expect(await identitiesOf(user!.id)).toEqual([{ provider_id: 'idp', subject: who.sub, email: who.email }]);
    const account = await (await first.get('/account')).text();
    expect(account).toContain('Grace Hopper');
    expect(account).toContain('Sign-in providers');
    expect(account).toContain('>Unlink</button>');
    const session = await env.DB.prepare('SELECT amr FROM sessions WHERE user_id = ?').bind(user!.id).first<{ amr: string }>();
    expect(JSON.parse(session!.amr)).toEqual(['fed']);

    const second = new Browser();
    expect((await upstreamSignIn(second, who)).status).toBe(303);
    expect(await isSignedIn(second)).toBe(true);
    const count = await env.DB.prepare('SELECT count(*) AS n FROM users WHERE email = ?').bind(who.email).first<{ n: number }>();
    expect(count?.n).toBe(1);
    const sessions = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(user!.id).first<{ n: number }>();
    expect(sessions?.n).toBe(2);
    // Each sign-in is in the audit trail, as a password sign-in is.
    expect((await auditTypes(user!.id)).filter((type) => type === 'sign_in')).toHaveLength(2);
  });

  it('keeps email_verified unset when the provider does not say the address is verified', async () => {
    const who = oidcUser({ email_verified: false });
    expect((await upstreamSignIn(new Browser(), who)).status).toBe(303);
    expect((await userByEmail(who.email!))?.email_verified_at).toBeNull();
  });

  it('goes back to where sign-in was asked for (return_to)', async () => {
    const response = await upstreamSignIn(new Browser(), oidcUser(), { returnTo: '/account?x=1' });
    expect(response.headers.get('Location')).toBe('/account?x=1');
  });

  it('makes no account when the provider shares no email', async () => {
    const who = oidcUser({ email: undefined });
    const browser = new Browser();
    const response = await upstreamSignIn(browser, who);
    expect(await expectErrorPage(response, 400)).toContain('did not share an email');
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('gives a made account no password that signs in', async () => {
    const who = oidcUser();
    await upstreamSignIn(new Browser(), who);
    const response = await new Browser().submit('/login', { email: who.email!, password: 'none' });
    expect(response.status).toBe(401);
  });
});

describe('linking to an existing account', () => {
  it('links a verified email only after the owner signs in with their password in this browser', async () => {
    const owner = await createUser();
    const who = oidcUser({ email: owner.email });
    const browser = new Browser();
    const callback = await upstreamSignIn(browser, who);
    expect(callback.status).toBe(200);
    const page = await callback.text();
    expect(page).toContain('already exists');
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await isSignedIn(browser)).toBe(false);

    // Not signed in: the link page sends the browser to sign in first, to come back.
    const link = await browser.get('/login/upstream/link');
    expect(link.status).toBe(302);
    expect(link.headers.get('Location')).toContain('return_to=%2Flogin%2Fupstream%2Flink');

    const signIn = await browser.submit('/login?return_to=%2Flogin%2Fupstream%2Flink', { email: owner.email, password: owner.password });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('Location')).toBe('/login/upstream/link');
    const confirm = await browser.get('/login/upstream/link');
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('>Link</button>');
    const linked = await browser.post('/login/upstream/link', hiddenFields(html));
    expect(linked.status).toBe(303);
    expect((await identityOf('idp', who.sub))?.user_id).toBe(owner.id);

    // From now on the provider signs the owner in.
    const elsewhere = new Browser();
    expect((await upstreamSignIn(elsewhere, who)).status).toBe(303);
    expect(await (await elsewhere.get('/account')).text()).toContain(owner.email);
  });
});

describe('unlinking on /account', () => {
  it('refuses to unlink the only way a user can sign in', async () => {
    const who = oidcUser();
    const browser = new Browser();
    await upstreamSignIn(browser, who);
    const html = await (await browser.get('/account')).text();
    const csrf = hiddenFields(html).csrf_token!;
    const response = await browser.post('/account/providers/unlink', { csrf_token: csrf, provider: 'idp', subject: who.sub });
    expect(await expectErrorPage(response, 409)).toContain('only way');
    expect(await identityOf('idp', who.sub)).not.toBeNull();
  });

  it('unlinks when another provider (or a password) is left', async () => {
    const owner = await createUser();
    const who = oidcUser({ email: owner.email });
    const browser = new Browser();
    await upstreamSignIn(browser, who);
    await browser.submit('/login?return_to=%2Flogin%2Fupstream%2Flink', { email: owner.email, password: owner.password });
    const confirm = await (await browser.get('/login/upstream/link')).text();
    await browser.post('/login/upstream/link', hiddenFields(confirm));
    expect(await identityOf('idp', who.sub)).not.toBeNull();
    const html = await (await browser.get('/account')).text();
    const response = await browser.post('/account/providers/unlink', {
      csrf_token: hiddenFields(html).csrf_token!,
      provider: 'idp',
      subject: who.sub,
    });
    expect(response.status).toBe(303);
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await (await browser.get('/account')).text()).toContain('Unlinked a sign-in provider');
  });

  it('unlinks one of two providers of a user without a password, then refuses the last', async () => {
    const who = oidcUser();
    const browser = new Browser();
    await upstreamSignIn(browser, who);
    const user = await userByEmail(who.email!);
    await env.DB.prepare('INSERT INTO user_identities (provider_id, subject, user_id, email, linked_at) VALUES (?, ?, ?, NULL, 0)')
      .bind('gh', `gh-${who.sub}`, user!.id)
      .run();
    const csrf = hiddenFields(await (await browser.get('/account')).text()).csrf_token!;
    const first = await browser.post('/account/providers/unlink', { csrf_token: csrf, provider: 'gh', subject: `gh-${who.sub}` });
    expect(first.status).toBe(303);
    const last = await browser.post('/account/providers/unlink', { csrf_token: csrf, provider: 'idp', subject: who.sub });
    await expectErrorPage(last, 409);
    expect(await identitiesOf(user!.id)).toHaveLength(1);
  });

  it('unlinks the only provider of a user without a password who has a passkey', async () => {
    const who = oidcUser();
    const browser = new Browser();
    await upstreamSignIn(browser, who);
    const added = await addPasskey(browser, new SoftAuthenticator(), { name: 'Phone' });
    expect(added.status, await added.clone().text()).toBe(303);
    const csrf = hiddenFields(await (await browser.get('/account')).text()).csrf_token!;
    const response = await browser.post('/account/providers/unlink', { csrf_token: csrf, provider: 'idp', subject: who.sub });
    expect(response.status, await response.clone().text()).toBe(303);
    expect(await identityOf('idp', who.sub)).toBeNull();
  });

  it('refuses a disabled account at sign-in, and audits it as a refused password sign-in is', async () => {
    const who = oidcUser();
    await upstreamSignIn(new Browser(), who);
    const user = await userByEmail(who.email!);
    await env.DB.prepare('UPDATE users SET disabled_at = 1 WHERE email = ?').bind(who.email).run();
    const browser = new Browser();
    expect(await expectErrorPage(await upstreamSignIn(browser, who), 403)).toContain('disabled');
    expect(await isSignedIn(browser)).toBe(false);
    expect(await auditTypes(user!.id)).toEqual(['sign_in', 'sign_in_refused']);
  });

  it('answers 404 for a link of someone else', async () => {
    const who = oidcUser();
    await upstreamSignIn(new Browser(), who);
    const other = await signedInBrowser(await createUser());
    const html = await (await other.get('/account')).text();
    const response = await other.post('/account/providers/unlink', {
      csrf_token: hiddenFields(html).csrf_token!,
      provider: 'idp',
      subject: who.sub,
    });
    await expectErrorPage(response, 404);
    expect(await identityOf('idp', who.sub)).not.toBeNull();
  });
});

describe('signing in through GitHub', () => {
  function githubUser(verified: boolean) {
    const id = Math.floor(Math.random() * 1e9);
    const email = `gh${id}@users.example`;
    return {
      email,
      user: {
        id,
        login: `octo${id}`,
        name: null,
        emails: [
          { email: `other${id}@users.example`, primary: false, verified: true },
          { email, primary: true, verified },
        ],
      },
    };
  }

  it('makes a user from the primary verified address, named by the login when GitHub has no name', async () => {
    const { email, user } = githubUser(true);
    const response = await upstreamSignIn(new Browser(), user, { provider: 'gh' });
    expect(response.status).toBe(303);
    const row = await userByEmail(email);
    expect(row?.name).toBe(user.login);
    expect(row?.email_verified_at).not.toBeNull();
    expect((await identityOf('gh', String(user.id)))?.user_id).toBe(row?.id);
  });

  it('counts an unverified primary address as unverified', async () => {
    const { email, user } = githubUser(false);
    expect((await upstreamSignIn(new Browser(), user, { provider: 'gh' })).status).toBe(303);
    expect((await userByEmail(email))?.email_verified_at).toBeNull();
  });

  it('sends no nonce and no iss is needed', async () => {
    const url = await startUpstream(new Browser(), 'gh');
    expect(url.origin + url.pathname).toBe('https://github.com/login/oauth/authorize');
    expect(url.searchParams.get('nonce')).toBeNull();
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  });
});

describe('an upstream-signed-in user through the code flow', () => {
  it('gets an ID token whose amr says fed', async () => {
    const { registerClient, userToken, authorizeWithConsent, redeem, decodeJwt } = await import('./helpers');
    const developer = await createUser();
    const client = await registerClient(await userToken(developer));
    const browser = new Browser();
    await upstreamSignIn(browser, oidcUser());
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid', nonce: 'n-1' });
    const tokens = (await (await redeem(client, authorization)).json()) as { id_token: string };
    expect(decodeJwt(tokens.id_token).payload.amr).toEqual(['fed']);
  });
});

describe('answers at the callback', () => {
  it('an error from the provider (the user said no) is a page, and signs nobody in', async () => {
    const browser = new Browser();
    const authorization = await startUpstream(browser);
    const state = authorization.searchParams.get('state')!;
    const response = await browser.get(
      `/login/upstream/idp/callback?error=access_denied&state=${state}&iss=${encodeURIComponent('https://idp.example')}`,
    );
    expect(await expectErrorPage(response, 400)).toContain('did not allow');
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('a callback parameter past its length is a 400 page', async () => {
    const browser = new Browser();
    await startUpstream(browser);
    const response = await browser.get(`/login/upstream/idp/callback?code=${'a'.repeat(5000)}`);
    await expectErrorPage(response, 400);
  });

  it('answerAtProvider returns the callback', async () => {
    const browser = new Browser();
    const callback = await answerAtProvider(await startUpstream(browser), oidcUser());
    expect(callback).toMatch(/^\/login\/upstream\/idp\/callback\?code=/);
  });
});

describe('the pending sign-in’s lifetime (UPSTREAM_REQUEST_TTL, 10 minutes)', () => {
  /**
   * Starts a sign-in, then seals its pending cookie again as if it had been
   * started `age` seconds ago, the cookie living `cookieTtl` seconds from then.
   */
  async function startedAgo(browser: Browser, age: number, cookieTtl = UPSTREAM_REQUEST_TTL): Promise<URL> {
    const authorization = await startUpstream(browser);
    const deps = createDeps(env);
    const pending = await openPending<PendingSignIn>(deps, 'signIn', browser.cookies.get('tg_upstream')!);
    expect(pending).not.toBeNull();
    const createdAt = Math.floor(Date.now() / 1000) - age;
    browser.cookies.set('tg_upstream', await sealPending(deps, 'signIn', { ...pending!, createdAt }, cookieTtl));
    return authorization;
  }

  it('takes an answer 9 minutes after the start', async () => {
    const browser = new Browser();
    const response = await browser.get(await answerAtProvider(await startedAgo(browser, 9 * 60), oidcUser()));
    expect(response.status, await response.clone().text()).toBe(303);
    expect(await isSignedIn(browser)).toBe(true);
  });

  it('refuses an answer 11 minutes after the start, and signs nobody in', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const response = await browser.get(await answerAtProvider(await startedAgo(browser, 11 * 60), who));
    expect(await expectErrorPage(response, 400)).toContain('or it has expired');
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('refuses a pending sign-in older than 10 minutes even in a cookie sealed to live longer', async () => {
    const browser = new Browser();
    const who = oidcUser();
    const response = await browser.get(await answerAtProvider(await startedAgo(browser, 11 * 60, 60 * 60), who));
    expect(await expectErrorPage(response, 400)).toContain('or has expired');
    expect(await identityOf('idp', who.sub)).toBeNull();
    expect(await isSignedIn(browser)).toBe(false);
  });
});
