import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  Browser,
  type Browser as BrowserType,
  createUser,
  expectErrorPage,
  formAction,
  hiddenFields,
  ISSUER,
  issueTokens,
  registerClient,
  signedInBrowser,
  type TestUser,
  unique,
  userToken,
} from '../helpers';
import { accountExists, codeCount, csrfOf, grantRow, isSignedIn, openConsent } from './support';

/**
 * CSRF on every form (RFC 9700 §4.7 for the OAuth forms, and login CSRF,
 * OWASP): a form post is accepted only with the token of this browser's CSRF
 * cookie, and never from another origin. Each attack must answer 403 and
 * leave nothing changed.
 */
interface Target {
  browser: BrowserType;
  /** The page whose form is attacked: where a browser gets its CSRF token. */
  page: string;
  action: string;
  /** The form's fields, without csrf_token. */
  fields: Record<string, string>;
  /** Asserts that the attack changed nothing. */
  unchanged(): Promise<void>;
  /** What a successful (honest) post answers with. */
  success: RegExp;
}

/**
 * One account for the whole file: hashing passwords is what makes a test slow.
 * Each test still gets its own client and, where the attack could end a
 * session, its own sign-in, so no test depends on another's outcome.
 */
interface Person {
  user: TestUser;
  ownerToken: string;
  /** Signed in once; used by targets whose attacks cannot sign it out. */
  browser: BrowserType;
}

const TARGETS: Record<string, (person: Person) => Promise<Target>> = {
  'sign-in (POST /login)': async ({ user }) => {
    const browser = new Browser();
    return {
      browser,
      page: '/login',
      action: '/login',
      fields: { email: user.email, password: user.password, return_to: '/account' },
      success: /^\/account$/,
      async unchanged() {
        // Login CSRF would sign the victim into the attacker's account.
        expect(browser.cookies.has('tg_session')).toBe(false);
        expect(await isSignedIn(browser)).toBe(false);
      },
    };
  },
  'sign-up (POST /signup)': async () => {
    const browser = new Browser();
    const email = `${unique('csrf')}@example.com`;
    return {
      browser,
      page: '/signup',
      action: '/signup',
      fields: { name: 'Forged Account', email, password: 'long enough pw' },
      success: /^\/account$/,
      async unchanged() {
        expect(await accountExists(email)).toBe(false);
        expect(browser.cookies.has('tg_session')).toBe(false);
      },
    };
  },
  'consent (POST /oauth2/authorize)': async ({ user, ownerToken, browser }) => {
    const client = await registerClient(ownerToken);
    const consent = await openConsent(browser, client);
    const { csrf_token: _token, ...fields } = consent.fields;
    return {
      browser,
      page: consent.url,
      action: consent.action,
      fields: { ...fields, decision: 'allow' },
      success: /^https:\/\/app\.example\.com\/callback\?code=/,
      async unchanged() {
        expect(await codeCount(client.client_id)).toBe(0);
        expect(await grantRow(user.id, client.client_id)).toBeNull();
      },
    };
  },
  'account revoke (POST /account/apps/:id/revoke)': async ({ user, ownerToken, browser }) => {
    const client = await registerClient(ownerToken);
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const grant = await grantRow(user.id, client.client_id);
    expect(grant).not.toBeNull();
    const action = `/account/apps/${grant!.id}/revoke`;
    expect(await (await browser.get('/account')).text()).toContain(`action="${action}"`);
    return {
      browser,
      page: '/account',
      action,
      fields: {},
      success: /^\/account$/,
      async unchanged() {
        expect(await grantRow(user.id, client.client_id)).toEqual(grant);
      },
    };
  },
  'sign-out (POST /logout)': async ({ user }) => {
    const browser = await signedInBrowser(user);
    return {
      browser,
      page: '/account',
      action: '/logout',
      fields: {},
      success: /^\/login$/,
      async unchanged() {
        expect(await isSignedIn(browser)).toBe(true);
      },
    };
  },
  'RP logout confirmation (POST /oauth2/logout/confirm)': async ({ user, ownerToken }) => {
    const bye = 'https://app.example.com/bye';
    const client = await registerClient(ownerToken, { post_logout_redirect_uris: [bye] });
    const browser = await signedInBrowser(user);
    // An RP sends its ID token as the hint; without one Tollgate redirects nowhere.
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    const page = `/oauth2/logout?${new URLSearchParams({ id_token_hint: idToken!, post_logout_redirect_uri: bye, state: 'st' })}`;
    const html = await (await browser.get(page)).text();
    const { csrf_token: _token, ...fields } = hiddenFields(html);
    expect(fields.post_logout_redirect_uri).toBe(bye);
    return {
      browser,
      page,
      action: formAction(html),
      fields,
      success: /^https:\/\/app\.example\.com\/bye\?state=st$/,
      async unchanged() {
        expect(await isSignedIn(browser)).toBe(true);
      },
    };
  },
};

interface Attack {
  /** The csrf_token field to send (undefined: none). */
  token(own: string, foreign: string): string | undefined;
  headers?: Record<string, string>;
  /** Send no CSRF cookie (a cross-site POST under SameSite=Lax). */
  dropCookie?: boolean;
}

const ATTACKS: Record<string, Attack> = {
  'no token': { token: () => undefined },
  'a made-up token': { token: () => 'A'.repeat(43) },
  'the right token with a character added': { token: (own) => `${own}A` },
  'a valid token from another browser (the attacker’s own)': { token: (_own, foreign) => foreign },
  'a token but no CSRF cookie': { token: (own) => own, dropCookie: true },
  'the right token from a foreign Origin': { token: (own) => own, headers: { Origin: 'https://evil.example' } },
  // Browsers send Origin: null for our own forms (Referrer-Policy: no-referrer), so null alone
  // proves nothing; a sandboxed attacker frame sends it too, but without this browser's token.
  'the attacker’s token from Origin: null (a sandboxed frame)': { token: (_own, foreign) => foreign, headers: { Origin: 'null' } },
  'no token from Origin: null': { token: () => undefined, headers: { Origin: 'null' } },
  'the right token from a look-alike Origin': { token: (own) => own, headers: { Origin: `${ISSUER}.evil.example` } },
};

const CASES = Object.keys(TARGETS).flatMap((target) => Object.keys(ATTACKS).map((attack) => [target, attack] as const));

describe('CSRF on every form (RFC 9700 §4.7, RFC 6749 §10.12)', () => {
  let person: Person;
  beforeAll(async () => {
    const user = await createUser();
    const [ownerToken, browser] = await Promise.all([userToken(user), signedInBrowser(user)]);
    person = { user, ownerToken, browser };
  });

  it.each(CASES)('%s refuses %s with 403 and changes nothing', async (targetName, attackName) => {
    const target = await TARGETS[targetName]!(person);
    const attack = ATTACKS[attackName]!;
    const own = await csrfOf(target.browser, target.page);
    // The attacker's own browser holds a valid token too, for its own cookie (tokens are per browser, not per page).
    const foreign = await csrfOf(new Browser(), '/login');
    expect(foreign).not.toBe(own);

    const saved = target.browser.cookies.get('tg_csrf');
    if (attack.dropCookie) target.browser.cookies.delete('tg_csrf');
    const token = attack.token(own, foreign);
    const fields = token === undefined ? target.fields : { ...target.fields, csrf_token: token };
    const response = await target.browser.post(target.action, fields, attack.headers ?? {});
    if (saved) target.browser.cookies.set('tg_csrf', saved);

    const html = await expectErrorPage(response, 403);
    expect(html).toMatch(/This form has expired|This form was sent from another site/);
    expect(response.headers.getSetCookie().some((cookie) => cookie.startsWith('tg_session='))).toBe(false);
    await target.unchanged();
  });

  it.each(Object.keys(TARGETS))(
    '%s accepts the honest post (same browser, same origin): the attacks above are not vacuous',
    async (targetName) => {
      const target = await TARGETS[targetName]!(person);
      const own = await csrfOf(target.browser, target.page);
      const response = await target.browser.post(target.action, { ...target.fields, csrf_token: own }, { Origin: ISSUER });
      expect(response.status, (await response.clone().text()).slice(0, 300)).toBe(303);
      expect(response.headers.get('Location')).toMatch(target.success);
    },
  );
});
