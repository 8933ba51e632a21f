import { describe, expect, it } from 'vitest';
import { ACR_MFA, ACR_PASSWORD } from '../src/config';
import {
  type Browser,
  codeFlowRequest,
  createUser,
  decodeJwt,
  formAction,
  hiddenFields,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from './helpers';
import { enterCode, turnOnTwoFactor } from './totp-support';

// OIDC Core §3.1.2.1 acr_values: a client asking for urn:tollgate:acr:mfa of
// a user whose session earned only urn:tollgate:acr:pwd sends them to sign in
// again (a passkey, or password and code, earns it); the ID token's acr is
// always what the sign-in earned (§5.5.1.1: acr_values is voluntary).

/** GET /oauth2/authorize for `client` with `extra` parameters (prompt=consent, so a code always needs the page). */
async function authorize(browser: Browser, client: RegisteredClient, extra: Record<string, string>) {
  const { url, verifier } = await codeFlowRequest(client, { prompt: 'consent', ...extra });
  return { response: await browser.get(url), verifier };
}

/** Allows the consent page and redeems the code: the ID token's claims. */
async function idTokenAfterConsent(browser: Browser, client: RegisteredClient, consent: Response, verifier: string) {
  expect(consent.status, 'consent page').toBe(200);
  const html = await consent.text();
  const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
  expect(decision.status).toBe(303);
  const location = new URL(decision.headers.get('Location')!);
  const tokens = await redeem(client, {
    code: location.searchParams.get('code')!,
    verifier,
    redirectUri: client.redirect_uris[0]!,
    state: 's',
    location,
  });
  expect(tokens.status, await tokens.clone().text()).toBe(200);
  return decodeJwt(((await tokens.json()) as { id_token: string }).id_token).payload;
}

/** Follows the redirect to /login and signs in with the password; answers the sign-in's response. */
async function signInAgain(browser: Browser, user: TestUser, loginPath: string) {
  const html = await (await browser.get(loginPath)).text();
  return browser.post(formAction(html), { ...hiddenFields(html), email: user.email, password: user.password });
}

async function setUp() {
  const user = await createUser();
  const client = await registerClient(await userToken(user));
  return { user, client };
}

describe('acr_values at the authorization endpoint (OIDC Core §3.1.2.1)', () => {
  it('a password-only session asked for mfa signs in again; a user with no second factor gets an ID token saying pwd', async () => {
    const { user, client } = await setUp();
    const browser = await signedInBrowser(user);
    const { response, verifier } = await authorize(browser, client, { acr_values: ACR_MFA });
    expect(response.status).toBe(302);
    const loginPath = response.headers.get('Location')!;
    expect(loginPath).toMatch(/^\/login\?return_to=/);

    // Signed in again, with what they have: a password. The request goes on (no loop), and the acr is honest.
    const signedIn = await signInAgain(browser, user, loginPath);
    expect(signedIn.status).toBe(303);
    const consent = await browser.get(signedIn.headers.get('Location')!);
    const claims = await idTokenAfterConsent(browser, client, consent, verifier);
    expect(claims).toMatchObject({ amr: ['pwd'], acr: ACR_PASSWORD });
  });

  it('a session from before two-factor was turned on is asked to sign in again, and password and code earn mfa', async () => {
    const { user, client } = await setUp();
    const browser = await signedInBrowser(user);
    const { app } = await turnOnTwoFactor(browser);
    // Preference order (§3.1.2.1): mfa first; pwd is not acceptable here.
    const { response, verifier } = await authorize(browser, client, { acr_values: `${ACR_MFA} urn:example:unknown` });
    expect(response.status).toBe(302);
    const signedIn = await signInAgain(browser, user, response.headers.get('Location')!);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('Location')).toMatch(/^\/login\/two-factor/);
    const coded = await enterCode(browser, await app.nextCode());
    expect(coded.status).toBe(303);
    const consent = await browser.get(coded.headers.get('Location')!);
    const claims = await idTokenAfterConsent(browser, client, consent, verifier);
    expect(claims).toMatchObject({ amr: ['pwd', 'otp'], acr: ACR_MFA });

    // That mfa session is not sent to sign in again.
    const again = await authorize(browser, client, { acr_values: ACR_MFA });
    const claimsAgain = await idTokenAfterConsent(browser, client, again.response, again.verifier);
    expect(claimsAgain).toMatchObject({ acr: ACR_MFA });
  });

  it.each([
    ['pwd', ACR_PASSWORD],
    ['pwd or mfa', `${ACR_MFA} ${ACR_PASSWORD}`],
    ['only unknown values', 'urn:example:gold silver'],
  ])('a password-only session asked for %s goes straight on (unknown values are ignored)', async (_, acrValues) => {
    const { user, client } = await setUp();
    const browser = await signedInBrowser(user);
    const { response, verifier } = await authorize(browser, client, { acr_values: acrValues });
    const claims = await idTokenAfterConsent(browser, client, response, verifier);
    expect(claims).toMatchObject({ acr: ACR_PASSWORD });
  });

  it('prompt=none does not fail for it: acr_values is voluntary, and the ID token says pwd', async () => {
    const { user, client } = await setUp();
    const browser = await signedInBrowser(user);
    // Consent first, so that prompt=none can be answered without the user.
    const first = await authorize(browser, client, {});
    await idTokenAfterConsent(browser, client, first.response, first.verifier);
    const { response, verifier } = await authorize(browser, client, { acr_values: ACR_MFA, prompt: 'none' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('Location')!);
    expect(location.searchParams.get('error')).toBeNull();
    const tokens = await redeem(client, {
      code: location.searchParams.get('code')!,
      verifier,
      redirectUri: client.redirect_uris[0]!,
      state: 's',
      location,
    });
    expect(tokens.status).toBe(200);
    const claims = decodeJwt(((await tokens.json()) as { id_token: string }).id_token).payload;
    expect(claims).toMatchObject({ acr: ACR_PASSWORD });
  });

  it('acr_values longer than the limit is invalid_request at the redirect URI', async () => {
    const { user, client } = await setUp();
    const browser = await signedInBrowser(user);
    const { response } = await authorize(browser, client, { acr_values: 'a'.repeat(2000) });
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('Location')!).searchParams.get('error')).toBe('invalid_request');
  });
});
