import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  type Browser,
  createUser,
  json,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  unique,
  userToken,
} from '../helpers';

// Anyone may register a client under any name (open registration) or publish
// a client ID metadata document naming itself "Google". Its consent page must
// not lend it that name: it says the app is unverified, that the name is what
// the app calls itself, and leads with the host the answer goes to.

let browser: Browser;

beforeAll(async () => {
  browser = await signedInBrowser(await createUser({ name: 'Phished Reader' }));
});

async function consentPage(clientId: string, redirectUri: string): Promise<string> {
  const { challenge } = await pkce();
  const response = await browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    }),
  );
  expect(response.status).toBe(200);
  return response.text();
}

async function registerAnonymously(name: string, redirectUri: string): Promise<RegisteredClient> {
  const response = await json('/oauth2/register', { client_name: name, redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' });
  expect(response.status).toBe(201);
  return (await response.json()) as RegisteredClient;
}

function expectUnverified(html: string, name: string, host: string): void {
  expect(html).toContain('Unverified app');
  // The host is in the heading and in the warning; the name never stands as the heading.
  expect(html).toContain(`<h1>Allow an unverified app at ${host}?</h1>`);
  expect(html).toContain(`<strong class="host">${host}</strong>`);
  expect(html).not.toContain(`<h1>Allow ${name}?</h1>`);
  expect(html).toContain(`calls itself <strong>“${name}”</strong>`);
}

describe('phishing client names', () => {
  it('an anonymous client named "Google" is marked unverified, with its host shown', async () => {
    const client = await registerAnonymously('Google', 'https://accounts-google.evil.example/cb');
    expectUnverified(await consentPage(client.client_id, client.redirect_uris[0]!), 'Google', 'accounts-google.evil.example');
  });

  it('so is a client ID metadata document that names itself "Google"', async () => {
    const id = `https://client.example/google/${unique('phish')}`;
    expectUnverified(await consentPage(id, 'https://app.client.example/callback'), 'Google', 'app.client.example');
  });

  it('a name trying to look like the page itself is shown as text, never as markup', async () => {
    const name = '<b>Tollgate</b> Official';
    const client = await registerAnonymously(name, 'https://official.evil.example/cb');
    const html = await consentPage(client.client_id, client.redirect_uris[0]!);
    expect(html).not.toContain('<b>Tollgate</b>');
    expect(html).toContain('&lt;b&gt;Tollgate&lt;/b&gt; Official');
    expect(html).toContain('Unverified app');
  });

  it('a native app (private-use scheme) shows its whole redirect URI, since it has no host', async () => {
    const client = await registerAnonymously('Google Drive', 'com.evil.drive:/oauth2');
    const html = await consentPage(client.client_id, client.redirect_uris[0]!);
    expect(html).toContain('Unverified app');
    expect(html).toContain('com.evil.drive:/oauth2');
  });

  it('a client registered by a signed-in user keeps its name as the heading, unmarked', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), { client_name: 'Google' });
    const html = await consentPage(client.client_id, client.redirect_uris[0]!);
    expect(html).toContain('<h1>Allow Google?</h1>');
    expect(html.toLowerCase()).not.toContain('unverified');
  });
});
