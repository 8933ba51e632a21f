import { describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  call,
  decodeJwt,
  expectErrorRedirect,
  ISSUER,
  REDIRECT_URI,
  redeem,
  registerClient,
  type TokenResponseBody,
} from '../helpers';
import { authorizationRequest, openConsent, victim } from './support';

/**
 * RFC 9700 §4.4.2 / RFC 9207 §2: every authorization response names its
 * issuer in `iss`, once, so a client talking to several servers can tell
 * which one answered and never sends a code to the wrong token endpoint.
 */
function expectIssuedBy(location: URL): void {
  expect(location.searchParams.getAll('iss')).toEqual([ISSUER]);
}

describe('mix-up defence: iss in every authorization response (RFC 9700 §4.4, RFC 9207)', () => {
  it('RFC 9207 §2: the code after Allow (303) carries iss, the same issuer the ID token names', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    expect(code.location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expectIssuedBy(code.location);
    const response = await redeem(client, code);
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as TokenResponseBody;
    expect(decodeJwt(tokens.id_token!).payload.iss).toBe(ISSUER);
  });

  it('RFC 9207 §2: the code issued at once for remembered consent (302) carries iss', async () => {
    const { browser, client } = await victim();
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const request = await authorizationRequest(client, { prompt: undefined });
    const response = await browser.get(request.url);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('Location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBe(request.state);
    expectIssuedBy(location);
  });

  it('RFC 9207 §2: Deny (access_denied, 303) carries iss', async () => {
    const { browser, client } = await victim();
    const consent = await openConsent(browser, client);
    const response = await browser.post(consent.action, { ...consent.fields, decision: 'deny' });
    expectIssuedBy(expectErrorRedirect(response, { status: 303, redirectUri: REDIRECT_URI, error: 'access_denied', state: consent.state }));
  });

  it.each([
    ['invalid_scope', { scope: 'admin' }],
    ['unsupported_response_type', { response_type: 'token' }],
    ['invalid_request', { code_challenge: undefined }],
    ['invalid_request', { prompt: 'none login' }],
  ])('RFC 9207 §2: an error redirect (%s) carries iss', async (error, overrides) => {
    const { browser, client } = await victim();
    const request = await authorizationRequest(client, overrides);
    const location = expectErrorRedirect(await browser.get(request.url), {
      status: 302,
      redirectUri: REDIRECT_URI,
      error,
      state: request.state,
    });
    expectIssuedBy(location);
  });

  it('RFC 9207 §2: login_required for a signed-out prompt=none carries iss', async () => {
    const { client } = await victim();
    const request = await authorizationRequest(client, { prompt: 'none' });
    const location = expectErrorRedirect(await call(request.url), {
      status: 302,
      redirectUri: REDIRECT_URI,
      error: 'login_required',
      state: request.state,
    });
    expectIssuedBy(location);
  });

  it('RFC 9207 §2: consent_required for a signed-in prompt=none carries iss', async () => {
    const { browser, client } = await victim();
    const request = await authorizationRequest(client, { prompt: 'none' });
    const location = expectErrorRedirect(await browser.get(request.url), {
      status: 302,
      redirectUri: REDIRECT_URI,
      error: 'consent_required',
      state: request.state,
    });
    expectIssuedBy(location);
  });

  it('RFC 9207 §2: unauthorized_client for a client not registered for the code grant carries iss', async () => {
    const { ownerToken, browser } = await victim();
    const machine = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [REDIRECT_URI] });
    const request = await authorizationRequest(machine);
    const location = expectErrorRedirect(await browser.get(request.url), {
      status: 302,
      redirectUri: REDIRECT_URI,
      error: 'unauthorized_client',
      state: request.state,
    });
    expectIssuedBy(location);
  });

  it.each(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'])(
    'RFC 9207 §3: %s names the issuer and says iss is always sent',
    async (path) => {
      const response = await call(path);
      expect(response.status).toBe(200);
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(metadata.issuer).toBe(ISSUER);
      expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
      // RFC 8414 §3.3: the endpoints a client trusts belong to this issuer alone.
      expect(metadata.authorization_endpoint).toBe(`${ISSUER}/oauth2/authorize`);
      expect(metadata.token_endpoint).toBe(`${ISSUER}/oauth2/token`);
    },
  );
});
