import { describe, expect, it } from 'vitest';
import { authorizeUrl, createUser, formAction, hiddenFields, pkce, registerClient, signedInBrowser, userToken } from './helpers';

// OIDC Core §3.1.2.1: max_age and prompt=login ask for a sign-in no older than
// the request; once the user has signed in again the flow must go on.
describe('GET /oauth2/authorize re-authentication', () => {
  it.each([
    ['max_age=0', { max_age: '0' }],
    ['prompt=login', { prompt: 'login' }],
  ])('%s: forces a fresh sign-in, then shows consent instead of asking again', async (_, extra) => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    // The existing session must be at least a second old for max_age=0 to bite.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const { challenge } = await pkce();
    const first = await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'books:read',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...extra,
      }),
    );
    expect(first.status).toBe(302);
    const loginPath = first.headers.get('Location')!;
    expect(loginPath).toMatch(/^\/login\?return_to=/);

    const loginHtml = await (await browser.get(loginPath)).text();
    const signedIn = await browser.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const resumed = await browser.get(signedIn.headers.get('Location')!);
    expect(resumed.status).toBe(200);
    expect(await resumed.text()).toContain('>Allow</button>');
  });
});
