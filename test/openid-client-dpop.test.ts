import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createUser, decodeJwt, ISSUER, type TestUser, userToken } from './helpers';
import { REDIRECT_URI, registerAndDiscover, signInThroughPages } from './openid-client-support';

// openid-client 6 (OpenID Certified) as a DPoP client (RFC 9449): its DPoP()
// handle makes a proof for every token request and protected resource call,
// learns the server's nonce from a use_dpop_nonce answer and retries once.
// Every request goes to the Worker through SELF (openid-client-support.ts).

describe('openid-client with DPoP (RFC 9449) against Tollgate', () => {
  let user: TestUser;
  let config: oidc.Configuration;

  beforeAll(async () => {
    user = await createUser({ name: 'Ada Lovelace' });
    ({ config } = await registerAndDiscover(await userToken(user), {
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    }));
  });

  it('finds the proof algorithms in discovery', () => {
    expect(config.serverMetadata().dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('code flow with dpop_jkt, refresh, userinfo and the books API, retrying on the server nonce', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(config, keyPair);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile offline_access books:read books:write',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      // RFC 9449 §10: the code is bound to this key's thumbprint.
      dpop_jkt: await dpop.calculateThumbprint(),
    });
    const callback = await signInThroughPages(user, authorizationUrl);

    // The first token request has no nonce: Tollgate answers use_dpop_nonce
    // with DPoP-Nonce, and openid-client retries with it (RFC 9449 §8).
    const tokens = await oidc.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: codeVerifier, expectedState: state },
      undefined,
      {
        DPoP: dpop,
      },
    );
    expect(tokens.token_type).toBe('dpop');
    const jkt = await dpop.calculateThumbprint();
    expect(decodeJwt(tokens.access_token).payload.cnf).toEqual({ jkt });

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub, { DPoP: dpop });
    expect(userinfo).toMatchObject({ sub: user.id, name: 'Ada Lovelace' });

    const added = await oidc.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${ISSUER}/api/books`),
      'POST',
      JSON.stringify({ title: 'Notes', author: 'Ada Lovelace' }),
      new Headers({ 'Content-Type': 'application/json' }),
      { DPoP: dpop },
    );
    expect(added.status).toBe(201);
    const listed = await oidc.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${ISSUER}/api/books`),
      'GET',
      undefined,
      undefined,
      {
        DPoP: dpop,
      },
    );
    expect(((await listed.json()) as { title: string }[]).map((book) => book.title)).toEqual(['Notes']);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(refreshed.token_type).toBe('dpop');
    expect(decodeJwt(refreshed.access_token).payload.cnf).toEqual({ jkt });

    // The refresh token is bound to the key (a public client's, RFC 9449 §5): another key cannot use it.
    const otherKey = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: otherKey })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });
});
