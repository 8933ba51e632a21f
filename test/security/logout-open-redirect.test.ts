import { env } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ID_TOKEN_HINT_MAX_AGE, SIGNING_ALG } from '../../src/config';
import { getKeySet } from '../../src/services/keys';
import { createDb } from '../../src/storage/db';
import {
  Browser,
  call,
  createUser,
  decodeJwt,
  form,
  formAction,
  hiddenFields,
  issueTokens,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from '../helpers';
import { isSignedIn } from './support';

// Issue 11, finding 4: an attacker registers a client whose
// post_logout_redirect_uris point at their own site, gets an ID token for
// their own account, and links anyone to
// /oauth2/logout?id_token_hint=<theirs>&post_logout_redirect_uri=https://evil.example/…
// The server sent every visitor there: the hint vouched for the client, not
// for the visitor. OIDC RP-Initiated Logout 1.0 §2-§3 and RFC 9700 §4.11: the
// user goes back to the RP only when a signed-in session whose user is the
// hint's `sub` confirms; a hint is accepted only within a bounded age.

const EVIL = 'https://evil.example/bye';
const LEGIT = 'https://app.example.com/bye';

let attacker: TestUser;
let attackerClient: RegisteredClient;
let attackerHint: string;

beforeAll(async () => {
  attacker = await createUser({ name: 'Mallory' });
  attackerClient = await registerClient(await userToken(attacker), { post_logout_redirect_uris: [EVIL] });
  const tokens = await issueTokens(await signedInBrowser(attacker), attackerClient, { scope: 'openid' });
  attackerHint = tokens.id_token!;
});

function logoutUrl(hint: string, uri: string, state = 'st'): string {
  return `/oauth2/logout?${new URLSearchParams({ id_token_hint: hint, post_logout_redirect_uri: uri, state })}`;
}

/** Not a redirect at all, and in particular not to the attacker's site. */
function expectNoRedirect(response: Response, what: string): void {
  expect(response.headers.get('Location'), what).toBeNull();
  expect([200, 400], `${what}: status ${response.status}`).toContain(response.status);
}

/** The signed-out page: 200, no redirect. */
async function expectSignedOutPage(response: Response, what: string): Promise<void> {
  expectNoRedirect(response, what);
  expect(response.status, what).toBe(200);
  expect(await response.text(), what).toContain('You are signed out');
}

/** The same ID token, re-signed with the server's own key as if issued `age` seconds ago. */
async function hintIssuedAgo(idToken: string, age: number): Promise<string> {
  const { signing } = await getKeySet({ db: createDb(env.DB), env });
  const { payload } = decodeJwt(idToken);
  const iat = Math.floor(Date.now() / 1000) - age;
  return new SignJWT({ ...payload, iat, exp: iat + 600 })
    .setProtectedHeader({ alg: SIGNING_ALG, typ: 'JWT', kid: signing.kid })
    .sign(signing.key);
}

describe("an attacker's own id_token_hint sends nobody to the attacker's site", () => {
  it('a visitor with no session gets the signed-out page, by GET and by POST', async () => {
    await expectSignedOutPage(await call(logoutUrl(attackerHint, EVIL)), 'GET, no session');
    const posted = await form('/oauth2/logout', { id_token_hint: attackerHint, post_logout_redirect_uri: EVIL, state: 'st' });
    await expectSignedOutPage(posted, 'POST, no session');
  });

  it('a visitor signed in as someone else is asked to sign out, and is not redirected after confirming', async () => {
    const visitor = await signedInBrowser(await createUser({ name: 'Victoria' }));
    const page = await visitor.get(logoutUrl(attackerHint, EVIL));
    expect(page.status).toBe(200);
    const html = await page.text();
    // Nothing on the confirmation page carries the attacker's target.
    expect(html).not.toContain('evil.example');
    const done = await visitor.post(formAction(html), hiddenFields(html));
    await expectSignedOutPage(done, 'confirmation by another user');
    expect(await isSignedIn(visitor)).toBe(false);
  });

  it("a hand-made confirmation with the attacker's hint and target does not redirect either", async () => {
    const visitor = await signedInBrowser(await createUser());
    const html = await (await visitor.get('/oauth2/logout')).text();
    const forged = await visitor.post(formAction(html), {
      ...hiddenFields(html),
      id_token_hint: attackerHint,
      post_logout_redirect_uri: EVIL,
      state: 'st',
    });
    await expectSignedOutPage(forged, 'forged confirmation');
  });
});

describe('an id_token_hint older than ID_TOKEN_HINT_MAX_AGE vouches for no redirect', () => {
  let user: TestUser;
  let client: RegisteredClient;

  beforeAll(async () => {
    user = await createUser();
    client = await registerClient(await userToken(user), { post_logout_redirect_uris: [LEGIT] });
  });

  it('even for the signed-in user it names: sign-out, then the signed-out page', async () => {
    const browser = await signedInBrowser(user);
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    const stale = await hintIssuedAgo(idToken!, ID_TOKEN_HINT_MAX_AGE + 60);
    const page = await browser.get(logoutUrl(stale, LEGIT));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toContain('app.example.com');
    await expectSignedOutPage(await browser.post(formAction(html), hiddenFields(html)), 'stale hint, confirmed');
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('a stale hint posted straight to the confirmation does not redirect', async () => {
    const browser = await signedInBrowser(user);
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    const stale = await hintIssuedAgo(idToken!, ID_TOKEN_HINT_MAX_AGE + 60);
    const html = await (await browser.get('/oauth2/logout')).text();
    const forged = await browser.post(formAction(html), {
      ...hiddenFields(html),
      id_token_hint: stale,
      post_logout_redirect_uri: LEGIT,
    });
    await expectSignedOutPage(forged, 'stale hint at /confirm');
  });
});

describe('the legitimate case still goes back to the RP (OIDC RP-Initiated Logout §3)', () => {
  it('the hint’s own user, signed in, confirms: 303 to the registered URI with state', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), { post_logout_redirect_uris: [LEGIT] });
    const browser = await signedInBrowser(user);
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    const page = await browser.get(logoutUrl(idToken!, LEGIT, 'back'));
    expect(page.status).toBe(200);
    // The link alone never redirects nor signs out: the user confirms first.
    expect(page.headers.get('Location')).toBeNull();
    const html = await page.text();
    const done = await browser.post(formAction(html), hiddenFields(html));
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe(`${LEGIT}?state=back`);
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('an expired hint within the bound is still accepted (RP-Initiated Logout §2: exp may have passed)', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), { post_logout_redirect_uris: [LEGIT] });
    const browser = await signedInBrowser(user);
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    // Issued an hour ago: its exp (10 minutes) is long past, its age within the bound.
    const expired = await hintIssuedAgo(idToken!, Math.min(60 * 60, ID_TOKEN_HINT_MAX_AGE - 60));
    const done = await browser.submit(logoutUrl(expired, LEGIT), {});
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe(`${LEGIT}?state=st`);
  });

  it('a signed-out visitor with a valid hint of their own is shown the signed-out page, not sent on', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), { post_logout_redirect_uris: [LEGIT] });
    const { id_token: idToken } = await issueTokens(await signedInBrowser(user), client, { scope: 'openid' });
    // Nothing here tells this browser from the attacker's victims: no session, no redirect.
    await expectSignedOutPage(await new Browser().get(logoutUrl(idToken!, LEGIT)), 'own hint, no session');
  });
});
