import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { EXPIRED_ROW_RETENTION, PASSKEY_NAME_MAX_LENGTH, PASSKEYS_PER_USER_MAX, WEBAUTHN_CHALLENGE_TTL } from '../src/config';
import worker from '../src/index';
import {
  Browser,
  call,
  createUser,
  decodeJwt,
  expectErrorPage,
  expectLabelledField,
  formAction,
  hiddenFields,
  ISSUER,
  issueTokens,
  json,
  pkce,
  registerClient,
  signedInBrowser,
  storedHash,
  unique,
  userToken,
} from './helpers';
import {
  addPasskey,
  csrfOf,
  postSignIn,
  registrationOptions,
  SoftAuthenticator,
  signInOptions,
  signInWithPasskey,
} from './webauthn-authenticator';

// Passkeys (W3C WebAuthn Level 3, issue 15 item 1), driven end to end through
// the pages' endpoints with a software authenticator (webauthn-authenticator.ts)
// so that the server's real verification runs: adding one on /account,
// signing in with it on /login (discoverable and username-first), removing it.

interface PasskeyRow {
  id: string;
  user_id: string;
  counter: number;
  transports: string;
  device_type: string;
  backed_up: number;
  name: string;
  last_used_at: number | null;
}

function passkeysOf(userId: string) {
  return env.DB.prepare('select * from passkeys where user_id = ? order by created_at').bind(userId).all<PasskeyRow>();
}

async function auditTypes(userId: string): Promise<string[]> {
  const { results } = await env.DB.prepare('select type from audit_events where user_id = ? order by id')
    .bind(userId)
    .all<{ type: string }>();
  return results.map((row) => row.type);
}

/** The session row behind a browser's session cookie. */
async function sessionOf(browser: Browser) {
  const token = browser.cookies.get('tg_session');
  expect(token, 'a session cookie').toBeDefined();
  return env.DB.prepare('select user_id, amr, auth_time from sessions where id_hash = ?')
    .bind(await storedHash(token!))
    .first<{ user_id: string; amr: string; auth_time: number }>();
}

/** A user with one passkey on a software authenticator. */
async function userWithPasskey(options: { synced?: boolean; counterStep?: number } = {}) {
  const user = await createUser();
  const authenticator = new SoftAuthenticator(options);
  const browser = await signedInBrowser(user);
  const added = await addPasskey(browser, authenticator, { name: 'Laptop' });
  expect(added.status, await added.clone().text()).toBe(303);
  return { user, authenticator, browser };
}

describe('the pages', () => {
  it('/login has a Sign in with a passkey button in a form the module drives; no inline script', async () => {
    const response = await call('/login');
    const html = await response.text();
    expect(html).toMatch(/<button type="submit" class="secondary">Sign in with a passkey<\/button>/);
    expect(html).toContain('data-passkey="sign-in"');
    expect(html).toContain('<script type="module" src="/static/passkeys.js"></script>');
    expect(response.headers.get('Content-Security-Policy')).toContain("script-src 'self'");
  });

  it('/account has a Passkey name field and an Add a passkey button, and lists passkeys each with Remove', async () => {
    const { browser } = await userWithPasskey();
    const html = await (await browser.get('/account')).text();
    expectLabelledField(html, 'Passkey name');
    expect(html).toContain('>Add a passkey</button>');
    expect(html).toContain('<strong>Laptop</strong>');
    expect(html).toMatch(/aria-label="Remove Laptop">\s*Remove\s*<\/button>/);
    expect(html).toContain('Device-bound passkey');
  });

  it('serves the module as JavaScript with the security headers', async () => {
    const response = await call('/static/passkeys.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/javascript/);
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(await response.text()).toContain('navigator.credentials.create');
  });
});

describe('adding a passkey on /account', () => {
  it('offers options for the issuer as relying party, requires a resident key, excludes the user’s passkeys', async () => {
    const { browser, authenticator } = await userWithPasskey();
    const { options } = await registrationOptions(browser);
    const full = options as unknown as Record<string, unknown> & { rp: { id: string; name: string }; excludeCredentials: { id: string }[] };
    expect(full.rp).toEqual({ id: 'localhost', name: 'Tollgate' });
    expect(full.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'preferred' });
    expect(full.attestation).toBe('none');
    expect(full.timeout).toBe(WEBAUTHN_CHALLENGE_TTL * 1000);
    expect(full.excludeCredentials.map((entry) => entry.id)).toEqual([authenticator.credentials[0]!.id]);
    // The user handle is the account id (a random UUID), never the email.
    expect(
      new TextDecoder().decode(Uint8Array.from(atob(options.user.id.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))),
    ).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stores the credential with its counter, transports and backup state, and audits it', async () => {
    const { user, authenticator } = await userWithPasskey();
    const { results } = await passkeysOf(user.id);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      id: authenticator.credentials[0]!.id,
      counter: 0,
      device_type: 'singleDevice',
      backed_up: 0,
      name: 'Laptop',
      last_used_at: null,
    });
    expect(JSON.parse(results[0]!.transports)).toEqual(['internal', 'hybrid']);
    expect(await auditTypes(user.id)).toContain('passkey_added');
  });

  it('a synced passkey is stored as multiDevice and backed up; a blank name becomes "Passkey"', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const response = await addPasskey(browser, new SoftAuthenticator({ synced: true }), { name: '  ' });
    expect(response.status).toBe(303);
    const { results } = await passkeysOf(user.id);
    expect(results[0]).toMatchObject({ device_type: 'multiDevice', backed_up: 1, name: 'Passkey' });
  });

  it('needs a session: options are 401 JSON, the form goes to /login', async () => {
    const browser = new Browser();
    const csrf = await csrfOf(browser, '/login');
    const options = await browser.post('/account/passkeys/options', { csrf_token: csrf });
    expect(options.status).toBe(401);
    expect(((await options.json()) as { error: string }).error).toBe('login_required');
    const post = await browser.post('/account/passkeys', { csrf_token: csrf, credential: '{}' });
    expect(post.status).toBe(303);
    expect(post.headers.get('Location')).toBe('/login?return_to=%2Faccount');
  });

  it('refuses a missing, malformed or non-JSON credential and a too-long name with a 400 page, storing nothing', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const authenticator = new SoftAuthenticator();
    for (const credential of ['', 'not json', '{"id":"x"}', JSON.stringify({ id: '!!', rawId: '!!', type: 'public-key', response: {} })]) {
      const { csrf } = await registrationOptions(browser);
      await expectErrorPage(await browser.post('/account/passkeys', { csrf_token: csrf, name: 'x', credential }), 400);
    }
    const { csrf, options } = await registrationOptions(browser);
    const credential = JSON.stringify(await authenticator.create(options));
    const html = await expectErrorPage(
      await browser.post('/account/passkeys', { csrf_token: csrf, name: 'n'.repeat(PASSKEY_NAME_MAX_LENGTH + 1), credential }),
    );
    expect(html).toContain('The passkey name is too long.');
    expect((await passkeysOf(user.id)).results).toHaveLength(0);
  });

  it('refuses a credential id already registered (to anyone), keeping the first', async () => {
    const { authenticator, user } = await userWithPasskey();
    const existing = authenticator.credentials[0]!.id;
    const other = await createUser();
    const html = await expectErrorPage(
      await addPasskey(await signedInBrowser(other), new SoftAuthenticator(), { overrides: { credentialId: existing } }),
    );
    expect(html).toContain('This passkey is already registered.');
    expect((await passkeysOf(user.id)).results.map((row) => row.id)).toEqual([existing]);
    expect((await passkeysOf(other.id)).results).toHaveLength(0);
    expect(await auditTypes(other.id)).not.toContain('passkey_added');
  });
});

describe('how many passkeys', () => {
  it('an account holds at most PASSKEYS_PER_USER_MAX: past it the options are a 400 saying so', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const time = Math.floor(Date.now() / 1000);
    await env.DB.batch(
      Array.from({ length: PASSKEYS_PER_USER_MAX }, (_, index) =>
        env.DB.prepare(
          "insert into passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, name, created_at) values (?, ?, 'x', 0, '[]', 'singleDevice', 0, ?, ?)",
        ).bind(unique('cred'), user.id, `Key ${index}`, time),
      ),
    );
    const csrf = await csrfOf(browser, '/account');
    const response = await browser.post('/account/passkeys/options', { csrf_token: csrf });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error_description: string }).error_description).toContain(
      `at most ${PASSKEYS_PER_USER_MAX} passkeys`,
    );
  });
});

describe('signing in with a passkey', () => {
  it('discoverable: empty allowCredentials, user verification required, RP id the issuer host', async () => {
    const { options } = await signInOptions(new Browser());
    expect(options.rpId).toBe('localhost');
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
  });

  it('signs in a device-bound passkey with amr ["hwk","user"], stores the counter and last use, audits sign_in', async () => {
    const { user, authenticator } = await userWithPasskey();
    const browser = new Browser();
    const response = await signInWithPasskey(browser, authenticator, { returnTo: '/account' });
    expect(response.status, await response.clone().text()).toBe(303);
    expect(response.headers.get('Location')).toBe('/account');
    const session = await sessionOf(browser);
    expect(session).toMatchObject({ user_id: user.id });
    expect(JSON.parse(session!.amr)).toEqual(['hwk', 'user']);
    const [row] = (await passkeysOf(user.id)).results;
    expect(row!.counter).toBe(1);
    expect(row!.last_used_at).toBeGreaterThan(0);
    expect((await auditTypes(user.id)).at(-1)).toBe('sign_in');
    expect(browser.cookies.has('tg_webauthn')).toBe(false);
    const account = await browser.get('/account');
    expect(account.status).toBe(200);
    expect(await account.text()).toContain(user.email);
  });

  it('a synced passkey signs in with amr ["swk","user"]', async () => {
    const { user, authenticator } = await userWithPasskey({ synced: true });
    const browser = new Browser();
    expect((await signInWithPasskey(browser, authenticator)).status).toBe(303);
    expect(JSON.parse((await sessionOf(browser))!.amr)).toEqual(['swk', 'user']);
    expect((await passkeysOf(user.id)).results[0]!.backed_up).toBe(1);
  });

  it('an authenticator without a counter (always 0) signs in again and again', async () => {
    const { authenticator } = await userWithPasskey({ counterStep: 0 });
    for (let i = 0; i < 3; i++) expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(303);
  });

  it('username-first: the email lists the account’s credentials with their transports', async () => {
    const { user, authenticator } = await userWithPasskey();
    const { options } = await signInOptions(new Browser(), user.email.toUpperCase());
    expect(options.allowCredentials).toEqual([
      { id: authenticator.credentials[0]!.id, type: 'public-key', transports: ['internal', 'hybrid'] },
    ]);
    const response = await signInWithPasskey(new Browser(), authenticator, { email: user.email });
    expect(response.status).toBe(303);
  });

  it('username-first does not tell which emails have accounts: an unknown email gets a consistent made-up credential', async () => {
    const unknown = `${unique('nobody')}@example.com`;
    const first = await signInOptions(new Browser(), unknown);
    const second = await signInOptions(new Browser(), unknown);
    expect(first.options.allowCredentials).toHaveLength(1);
    expect(first.options.allowCredentials).toEqual(second.options.allowCredentials);
    const [decoy] = first.options.allowCredentials as { id: string; transports: string[] }[];
    expect(decoy!.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decoy!.transports).toEqual(['internal', 'hybrid']);
    const other = await signInOptions(new Browser(), `${unique('nobody')}@example.com`);
    expect(other.options.allowCredentials).not.toEqual(first.options.allowCredentials);
    // An account without passkeys looks the same as no account.
    const withoutPasskeys = await createUser();
    const known = await signInOptions(new Browser(), withoutPasskeys.email);
    expect(known.options.allowCredentials).toHaveLength(1);
    expect(known.options.allowCredentials![0]!.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // A malformed email is ignored: a discoverable ceremony.
    expect((await signInOptions(new Browser(), 'not an email')).options.allowCredentials ?? []).toEqual([]);
  });

  it('is refused for a disabled account, with the same message', async () => {
    const { user, authenticator } = await userWithPasskey();
    await env.DB.prepare('update users set disabled_at = ? where id = ?')
      .bind(Math.floor(Date.now() / 1000), user.id)
      .run();
    const browser = new Browser();
    const response = await signInWithPasskey(browser, authenticator);
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('That passkey could not sign you in.');
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('answers a missing or malformed credential with the sign-in page (400), and an unknown credential with 401', async () => {
    const browser = new Browser();
    const { csrf } = await signInOptions(browser);
    const missing = await browser.post('/login/passkey', { csrf_token: csrf, credential: '' });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('Your browser sent no passkey.');
    const stranger = new SoftAuthenticator();
    await stranger.create({ challenge: 'x', rp: { id: 'localhost', name: 'T' }, user: { id: 'dXNlcg', name: 'u', displayName: 'u' } });
    const begun = await signInOptions(browser);
    const response = await postSignIn(browser, begun.csrf, await stranger.get(begun.options));
    expect(response.status).toBe(401);
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('needs the page’s CSRF token, for the options and for the form', async () => {
    const browser = new Browser();
    await csrfOf(browser, '/login');
    expect((await browser.post('/login/passkey/options', { csrf_token: 'wrong' })).status).toBe(403);
    expect((await browser.post('/login/passkey', { csrf_token: 'wrong', credential: '{}' })).status).toBe(403);
  });

  it('takes a signed-out authorization request through to the consent page, like a password sign-in', async () => {
    const { user, authenticator } = await userWithPasskey();
    const client = await registerClient(await userToken(user));
    const { challenge } = await pkce();
    const browser = new Browser();
    const authorize = `/oauth2/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0]!,
      scope: 'openid books:read',
      state: 'xyz',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`;
    const toLogin = await browser.get(authorize);
    expect(toLogin.status).toBe(302);
    const returnTo = new URL(toLogin.headers.get('Location')!, ISSUER).searchParams.get('return_to')!;
    const signedIn = await signInWithPasskey(browser, authenticator, { returnTo });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('Location')).toBe(returnTo);
    const consent = await browser.get(returnTo);
    expect(consent.status).toBe(200);
    const html = await consent.text();
    expect(html).toContain('Reading List');
    const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    expect(decision.status).toBe(303);
    expect(new URL(decision.headers.get('Location')!).searchParams.get('code')).toBeTruthy();
  });
});

describe('what the ID token says of a passkey sign-in', () => {
  it('amr ["hwk","user"] and the multi-factor acr (RFC 8176, OIDC Core §2): a passkey with user verification is two factors', async () => {
    const { user, authenticator } = await userWithPasskey();
    const client = await registerClient(await userToken(user));
    const browser = new Browser();
    expect((await signInWithPasskey(browser, authenticator)).status).toBe(303);
    const tokens = await issueTokens(browser, client, { scope: 'openid' });
    const { payload } = decodeJwt(tokens.id_token!);
    expect(payload.amr).toEqual(['hwk', 'user']);
    expect(payload.acr).toBe('urn:tollgate:acr:mfa');
  });
});

describe('removing a passkey', () => {
  it('removes the owner’s passkey and audits it; it no longer signs in', async () => {
    const { user, authenticator, browser } = await userWithPasskey();
    const id = authenticator.credentials[0]!.id;
    const csrf = await csrfOf(browser, '/account');
    const response = await browser.post(`/account/passkeys/${id}/remove`, { csrf_token: csrf });
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/account');
    expect((await passkeysOf(user.id)).results).toHaveLength(0);
    expect((await auditTypes(user.id)).at(-1)).toBe('passkey_removed');
    expect(await (await browser.get('/account')).text()).toContain('You have no passkeys.');
    expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(401);
  });

  it('is 404 for a passkey of another user (which stays), and 403 without the CSRF token', async () => {
    const victim = await userWithPasskey();
    const attacker = await signedInBrowser(await createUser());
    const id = victim.authenticator.credentials[0]!.id;
    const csrf = await csrfOf(attacker, '/account');
    await expectErrorPage(await attacker.post(`/account/passkeys/${id}/remove`, { csrf_token: csrf }), 404);
    expect((await victim.browser.post(`/account/passkeys/${id}/remove`, { csrf_token: 'nope' })).status).toBe(403);
    expect((await passkeysOf(victim.user.id)).results).toHaveLength(1);
    expect(await auditTypes(victim.user.id)).not.toContain('passkey_removed');
  });

  it('goes with the account: deleting the user deletes their passkeys', async () => {
    const { user } = await userWithPasskey();
    await env.DB.prepare('delete from users where id = ?').bind(user.id).run();
    expect((await passkeysOf(user.id)).results).toHaveLength(0);
  });
});

describe('challenges', () => {
  it('are kept hashed, bound to the browser by an HttpOnly cookie that lives as long as they do', async () => {
    const browser = new Browser();
    const csrf = await csrfOf(browser, '/login');
    const response = await browser.post('/login/passkey/options', { csrf_token: csrf });
    const cookie = response.headers.getSetCookie().find((line) => line.startsWith('tg_webauthn='));
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(new RegExp(`Max-Age=${WEBAUTHN_CHALLENGE_TTL}\\b`));
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const value = browser.cookies.get('tg_webauthn')!;
    const row = await env.DB.prepare('select * from webauthn_challenges where id_hash = ?')
      .bind(await storedHash(value))
      .first<{
        purpose: string;
        challenge: string;
        user_id: string | null;
        expires_at: number;
      }>();
    expect(row).toMatchObject({
      purpose: 'authentication',
      user_id: null,
      challenge: ((await response.json()) as { challenge: string }).challenge,
    });
    expect(await env.DB.prepare('select count(*) as n from webauthn_challenges where id_hash = ?').bind(value).first()).toEqual({ n: 0 });
  });

  it('expired ones are deleted by the daily Cron Trigger', async () => {
    const browser = new Browser();
    await signInOptions(browser);
    const idHash = await storedHash(browser.cookies.get('tg_webauthn')!);
    const live = new Browser();
    await signInOptions(live);
    await env.DB.prepare('update webauthn_challenges set expires_at = ? where id_hash = ?')
      .bind(Math.floor(Date.now() / 1000) - EXPIRED_ROW_RETENTION - 60, idHash)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 * * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await env.DB.prepare('select count(*) as n from webauthn_challenges where id_hash = ?').bind(idHash).first()).toEqual({ n: 0 });
    const liveHash = await storedHash(live.cookies.get('tg_webauthn')!);
    expect(await env.DB.prepare('select count(*) as n from webauthn_challenges where id_hash = ?').bind(liveHash).first()).toEqual({
      n: 1,
    });
  });
});

// JSON API users are unaffected: /api/login still takes a password only.
describe('the JSON API', () => {
  it('still signs in with a password for a user with a passkey', async () => {
    const { user } = await userWithPasskey();
    expect((await json('/api/login', { email: user.email, password: user.password })).status).toBe(200);
  });
});
