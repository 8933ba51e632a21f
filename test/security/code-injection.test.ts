import { describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  basic,
  call,
  createUser,
  decodeJwt,
  expectErrorRedirect,
  expectJsonError,
  form,
  pkce,
  REDIRECT_URI,
  redeem,
  registerClient,
  signedInBrowser,
  storedHash,
  type TokenResponseBody,
  userToken,
} from '../helpers';
import { authorizationRequest, codeCount, victim } from './support';

async function expectTokensFor(response: Response, userId: string): Promise<TokenResponseBody> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  const body = JSON.parse(text) as TokenResponseBody;
  expect(decodeJwt(body.access_token).payload.sub).toBe(userId);
  return body;
}

describe('authorization code injection (RFC 9700 §4.5)', () => {
  it('§4.5: a victim’s code injected into the attacker’s session at the same client fails PKCE, and the victim’s code survives', async () => {
    const { user, browser, client } = await victim();
    const stolen = await authorizeWithConsent(browser, client, { scope: 'books:read' });

    // The attacker runs the same client in their own browser; the client holds
    // the attacker session's verifier when it redeems the injected code.
    const attacker = await createUser();
    const attackerFlow = await authorizeWithConsent(await signedInBrowser(attacker), client, { scope: 'books:read' });
    const injected = await redeem(client, { ...stolen, verifier: attackerFlow.verifier });
    const body = await expectJsonError(injected, 400, 'invalid_grant');
    expect(body).not.toHaveProperty('access_token');

    // The failed injection neither consumed the code nor revoked anything.
    await expectTokensFor(await redeem(client, stolen), user.id);
  });

  it('§4.5: client B cannot redeem client A’s code, even with A’s verifier and a redirect URI B registered too', async () => {
    const { user, browser, client: clientA } = await victim();
    const code = await authorizeWithConsent(browser, clientA, { scope: 'books:read' });
    // Redirect URIs are not exclusive: the attacker registers the very same one.
    const clientB = await registerClient(await userToken(await createUser()), { redirect_uris: [REDIRECT_URI] });

    await expectJsonError(await redeem(clientB, code), 400, 'invalid_grant');
    expect(await codeCount(clientB.client_id)).toBe(0);
    await expectTokensFor(await redeem(clientA, code), user.id);
  });

  it('§4.5: a public client’s code redeemed with another public client’s client_id is invalid_grant', async () => {
    const { user, ownerToken, browser, client: spaA } = await victim({ token_endpoint_auth_method: 'none' });
    const spaB = await registerClient(ownerToken, { token_endpoint_auth_method: 'none' });
    const code = await authorizeWithConsent(browser, spaA, { scope: 'books:read' });

    await expectJsonError(await redeem(spaB, code), 400, 'invalid_grant');
    await expectTokensFor(await redeem(spaA, code), user.id);
  });

  it('RFC 6749 §4.1.3: a code redeemed with another of the client’s own redirect URIs is invalid_grant', async () => {
    const other = 'https://app.example.com/other-callback';
    const { user, browser, client } = await victim({ redirect_uris: [REDIRECT_URI, other] });
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });

    await expectJsonError(await redeem(client, code, { redirect_uri: other }), 400, 'invalid_grant');
    await expectTokensFor(await redeem(client, code), user.id);
  });

  it('§4.5: a made-up code is invalid_grant', async () => {
    const { client } = await victim();
    const { verifier } = await pkce();
    const response = await form(
      '/oauth2/token',
      { grant_type: 'authorization_code', code: 'A'.repeat(43), redirect_uri: REDIRECT_URI, code_verifier: verifier },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    await expectJsonError(response, 400, 'invalid_grant');
  });
});

describe('PKCE downgrade (RFC 9700 §4.8, §2.1.1)', () => {
  it('§4.8: code_challenge_method=plain is refused with invalid_request, even when consent is remembered', async () => {
    const { browser, client } = await victim();
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const before = await codeCount(client.client_id);
    const { verifier } = await pkce();
    // With plain, the challenge is the verifier: anyone who sees the request can redeem.
    const request = await authorizationRequest(client, { code_challenge: verifier, code_challenge_method: 'plain', prompt: undefined });

    const response = await browser.get(request.url);
    const location = expectErrorRedirect(response, {
      status: 302,
      redirectUri: REDIRECT_URI,
      error: 'invalid_request',
      state: request.state,
    });
    expect(location.searchParams.get('error_description')).toContain('S256');
    expect(await codeCount(client.client_id)).toBe(before);
  });

  it('§4.8: a code_challenge without code_challenge_method (RFC 7636 §4.3: plain by default) is refused', async () => {
    const { browser, client } = await victim();
    const request = await authorizationRequest(client, { code_challenge_method: undefined });
    const response = await browser.get(request.url);
    expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_request', state: request.state });
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('§4.8: a method other than exactly S256 (s256, SHA256) is refused', async () => {
    const { browser, client } = await victim();
    for (const method of ['s256', 'SHA256', 'S512']) {
      const request = await authorizationRequest(client, { code_challenge_method: method });
      const response = await browser.get(request.url);
      expectErrorRedirect(response, { status: 302, redirectUri: REDIRECT_URI, error: 'invalid_request', state: request.state });
    }
    expect(await codeCount(client.client_id)).toBe(0);
  });

  it('§2.1.1: a request with no PKCE at all is refused for confidential and public clients alike, consent remembered or not', async () => {
    for (const metadata of [{}, { token_endpoint_auth_method: 'none' }]) {
      const { browser, client } = await victim(metadata);
      await authorizeWithConsent(browser, client, { scope: 'books:read' });
      const before = await codeCount(client.client_id);
      const request = await authorizationRequest(client, {
        code_challenge: undefined,
        code_challenge_method: undefined,
        prompt: undefined,
      });
      const response = await browser.get(request.url);
      const location = expectErrorRedirect(response, {
        status: 302,
        redirectUri: REDIRECT_URI,
        error: 'invalid_request',
        state: request.state,
      });
      expect(location.searchParams.get('error_description')).toContain('code_challenge');
      expect(await codeCount(client.client_id)).toBe(before);
    }
  });

  it('§4.8: a challenge sent at authorize but no verifier at the token endpoint is invalid_request, and no tokens', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const response = await form(
      '/oauth2/token',
      { grant_type: 'authorization_code', code: code.code, redirect_uri: code.redirectUri },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    const body = await expectJsonError(response, 400, 'invalid_request');
    expect(String(body.error_description)).toContain('code_verifier');
  });

  it('§4.8: an empty code_verifier is invalid_request', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await expectJsonError(await redeem(client, code, { code_verifier: '' }), 400, 'invalid_request');
  });

  it('§4.8: a valid verifier for another challenge is invalid_grant', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const other = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await expectJsonError(await redeem(client, code, { code_verifier: other.verifier }), 400, 'invalid_grant');
  });

  it('§4.8: the challenge itself sent as the verifier (a plain downgrade at the token endpoint) is invalid_grant', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    // The challenge travelled in the authorization request URL, so an attacker may know it.
    // S256: the challenge is base64url(SHA-256(verifier)), which is what storedHash computes.
    const challenge = await storedHash(code.verifier);
    await expectJsonError(await redeem(client, code, { code_verifier: challenge }), 400, 'invalid_grant');
  });

  it('§4.8: the metadata offers S256 alone', async () => {
    const response = await call('/.well-known/oauth-authorization-server');
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
  });
});
