import { describe, expect, it } from 'vitest';
import { authorizeWithConsent, type Browser, formAction, hiddenFields, ISSUER, type RegisteredClient } from '../helpers';
import { authorizationRequest, codeCount, victim } from './support';

/**
 * Issue 11, finding 8 (RFC 8252 §8.6): a native app's redirect URI proves
 * nothing about which app gets the code. Any app on the device can listen on
 * a loopback port (and Tollgate lets the port vary, §7.3) or register a
 * private-use scheme (§7.1); with a public client's id and its own PKCE pair,
 * such an app got a code with no user action once the user had consented
 * once. So a public client whose redirect URI is not https never gets
 * remembered consent: the consent page every time, and prompt=none is
 * consent_required. Confidential clients (they authenticate to redeem the
 * code) and public clients on https redirect URIs keep remembered consent.
 */

/** A signed-in user who has already approved `client` for books:read at `registered`. */
async function consented(metadata: Record<string, unknown>, registered: string) {
  const target = await victim({ redirect_uris: [registered], ...metadata });
  await authorizeWithConsent(target.browser, target.client, { scope: 'books:read', redirectUri: registered });
  return target;
}

/** GET /oauth2/authorize as the user, for books:read at `redirectUri` (no prompt, or `prompt`). */
async function ask(browser: Browser, client: RegisteredClient, redirectUri: string, prompt?: string) {
  const request = await authorizationRequest(client, { redirect_uri: redirectUri, prompt });
  return { response: await browser.get(request.url), state: request.state };
}

/** Where a redirect goes, whatever its scheme: the URI without its query, and the query. */
function redirectOf(response: Response): { target: string; params: URLSearchParams } {
  const location = response.headers.get('Location');
  expect(location, `status ${response.status}`).not.toBeNull();
  const [target = '', query = ''] = location!.split('?');
  return { target, params: new URLSearchParams(query) };
}

const PUBLIC = { token_endpoint_auth_method: 'none' };

describe('public native clients never get a code without the user (RFC 8252 §8.6; issue 11, finding 8)', () => {
  it.each([
    ['a loopback IPv4 literal, on another port', 'http://127.0.0.1:8080/cb', 'http://127.0.0.1:51234/cb'],
    ['a loopback IPv6 literal, on another port', 'http://[::1]:8080/cb', 'http://[::1]:40000/cb'],
    ['a loopback IPv4 literal, the same URI', 'http://127.0.0.1:8080/cb', 'http://127.0.0.1:8080/cb'],
    ['a private-use URI scheme (§7.1)', 'com.example.reader:/cb', 'com.example.reader:/cb'],
    ['http://localhost (§8.3: any local process can take the port)', 'http://localhost:8080/cb', 'http://localhost:8080/cb'],
  ])('%s: the consent page again after consent, and no code', async (_kind, registered, requested) => {
    const { browser, client } = await consented(PUBLIC, registered);
    const codesBefore = await codeCount(client.client_id);
    const { response } = await ask(browser, client, requested);
    const html = await response.text();
    expect(response.status, response.headers.get('Location') ?? html.slice(0, 300)).toBe(200);
    expect(html).toContain('>Allow</button>');
    expect(await codeCount(client.client_id)).toBe(codesBefore);

    // The user's Allow is what issues the code.
    const allowed = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    expect(allowed.status).toBe(303);
    const { target, params } = redirectOf(allowed);
    expect(target).toBe(requested);
    expect(params.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it.each([
    ['a loopback IP literal', 'http://127.0.0.1:8080/cb', 'http://127.0.0.1:51234/cb'],
    ['a private-use URI scheme', 'com.example.reader:/cb', 'com.example.reader:/cb'],
  ])(
    '%s: prompt=none after consent is consent_required (OIDC Core §3.1.2.6), with state and iss, and no code',
    async (_kind, registered, requested) => {
      const { browser, client } = await consented(PUBLIC, registered);
      const codesBefore = await codeCount(client.client_id);
      const { response, state } = await ask(browser, client, requested, 'none');
      expect(response.status).toBe(302);
      const { target, params } = redirectOf(response);
      expect(target).toBe(requested);
      expect(params.get('error')).toBe('consent_required');
      expect(params.get('state')).toBe(state);
      expect(params.get('iss')).toBe(ISSUER);
      expect(params.has('code')).toBe(false);
      expect(await codeCount(client.client_id)).toBe(codesBefore);
    },
  );
});

describe('remembered consent stays where the client is identified', () => {
  it.each([
    ['a confidential client on a loopback redirect URI (it authenticates to redeem the code)', {}, 'http://127.0.0.1:8080/cb'],
    [
      'a public client on an https redirect URI (RFC 8252 §8.6: a claimed https URI identifies it)',
      PUBLIC,
      'https://app.example.com/callback',
    ],
  ])('%s: a code without asking, with or without prompt=none', async (_kind, metadata, registered) => {
    const { browser, client } = await consented(metadata, registered);
    for (const prompt of [undefined, 'none']) {
      const { response, state } = await ask(browser, client, registered, prompt);
      expect(response.status, `prompt=${prompt}`).toBe(302);
      const { target, params } = redirectOf(response);
      expect(target).toBe(registered);
      expect(params.get('code'), `prompt=${prompt}`).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(params.get('state')).toBe(state);
    }
  });
});
