import { describe, expect, it } from 'vitest';
import { authorizeWithConsent, Browser, createUser, form, ISSUER, issueTokens, REDIRECT_URI, unique } from '../helpers';
import { authorizationRequest, csrfOf, grantRow, isSignedIn, openConsent, victim } from './support';

/**
 * RFC 9700 §4.12: a 307 (or 308) keeps the method and body, so a browser
 * would re-post the form (with the user's password, or the consent decision)
 * to wherever the redirect points. Every redirect that answers a POST is 303.
 */
function expect303(response: Response): URL {
  expect(response.status, `status ${response.status}`).toBe(303);
  const location = response.headers.get('Location');
  expect(location).not.toBeNull();
  return new URL(location!, ISSUER);
}

describe('redirect after POST is 303, never 307 (RFC 9700 §4.12)', () => {
  it('§4.12: Allow on the consent page answers 303 to the client, with code, state and iss', async () => {
    const { browser, client } = await victim();
    const consent = await openConsent(browser, client);
    const location = expect303(await browser.post(consent.action, { ...consent.fields, decision: 'allow' }));
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBe(consent.state);
    expect(location.searchParams.get('iss')).toBe(ISSUER);
  });

  it('§4.12: Deny on the consent page answers 303 to the client with access_denied', async () => {
    const { browser, client } = await victim();
    const consent = await openConsent(browser, client);
    const location = expect303(await browser.post(consent.action, { ...consent.fields, decision: 'deny' }));
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('§4.12: signing in answers 303, so the password is never re-posted', async () => {
    const user = await createUser();
    const location = expect303(await new Browser().submit('/login', { email: user.email, password: user.password }));
    expect(location.pathname).toBe('/account');
  });

  it('§4.12: signing in mid-authorization answers 303 back to the authorization request', async () => {
    const { user, client } = await victim();
    const browser = new Browser();
    const toLogin = await browser.get((await authorizationRequest(client)).url);
    expect(toLogin.status).toBe(302);
    const loginPath = toLogin.headers.get('Location')!;
    const location = expect303(await browser.submit(loginPath, { email: user.email, password: user.password }));
    expect(location.origin).toBe(ISSUER);
    expect(location.pathname).toBe('/oauth2/authorize');
    expect(location.searchParams.get('request_id')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('§4.12: signing up answers 303', async () => {
    const browser = new Browser();
    const location = expect303(
      await browser.submit('/signup', { name: 'Post Redirect', email: `${unique('p')}@example.com`, password: 'long enough pw' }),
    );
    expect(location.pathname).toBe('/account');
    expect(await isSignedIn(browser)).toBe(true);
  });

  it('§4.12: signing out answers 303', async () => {
    const { browser } = await victim();
    const token = await csrfOf(browser, '/account');
    const location = expect303(await browser.post('/logout', { csrf_token: token }));
    expect(location.pathname).toBe('/login');
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('§4.12: revoking an app on the account page answers 303', async () => {
    const { user, browser, client } = await victim();
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const grant = await grantRow(user.id, client.client_id);
    const token = await csrfOf(browser, '/account');
    const location = expect303(await browser.post(`/account/apps/${grant!.id}/revoke`, { csrf_token: token }));
    expect(location.pathname).toBe('/account');
    expect(await grantRow(user.id, client.client_id)).toBeNull();
  });

  it('§4.12: a revoke posted by a signed-out browser answers 303 to the sign-in page', async () => {
    const browser = new Browser();
    const token = await csrfOf(browser, '/login');
    const location = expect303(await browser.post(`/account/apps/${unique('grant')}/revoke`, { csrf_token: token }));
    expect(location.pathname).toBe('/login');
  });

  it('§4.12: confirming an RP-initiated logout answers 303 to the registered post_logout_redirect_uri', async () => {
    const bye = 'https://app.example.com/bye';
    const { browser, client } = await victim({ post_logout_redirect_uris: [bye] });
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    const page = `/oauth2/logout?${new URLSearchParams({ id_token_hint: idToken!, post_logout_redirect_uri: bye, state: 'st' })}`;
    const location = expect303(await browser.submit(page, {}));
    expect(location.href).toBe(`${bye}?state=st`);
    expect(await isSignedIn(browser)).toBe(false);
  });

  it('an RP-initiated logout sent by POST for a signed-out user answers the signed-out page, no redirect', async () => {
    const bye = 'https://app.example.com/bye';
    const { browser, client } = await victim({ post_logout_redirect_uris: [bye] });
    const { id_token: idToken } = await issueTokens(browser, client, { scope: 'openid' });
    // Issue 11, finding 4: no session of the hint's user confirms, so nobody is sent on.
    const response = await form('/oauth2/logout', { id_token_hint: idToken!, post_logout_redirect_uri: bye, state: 'st' });
    expect(response.status).toBe(200);
    expect(response.headers.get('Location')).toBeNull();
  });
});
