import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createUser, formAction, hiddenFields, ISSUER, signedInBrowser, type TestUser, userToken } from './helpers';
import { customFetch, REDIRECT_URI, registerAndDiscover, registerDynamically, signInThroughPages } from './openid-client-support';

// A real, OpenID Certified relying party drives Tollgate (the setup it shares
// with the DPoP and private_key_jwt tests: openid-client-support.ts).
const POST_LOGOUT_URI = 'https://rp.example/signed-out';

describe('openid-client (OpenID Certified RP) against Tollgate', () => {
  let user: TestUser;
  let ownerToken: string;

  beforeAll(async () => {
    user = await createUser({ name: 'Grace Hopper' });
    ownerToken = await userToken(user);
  });

  it.each([
    ['a confidential client (client_secret_basic)', 'client_secret_basic'],
    ['a public client (PKCE, no secret)', 'none'],
  ])('%s: discovery, code flow with PKCE, ID token, userinfo, refresh, introspection, revocation', async (_, method) => {
    const { registered, config } = await registerAndDiscover(ownerToken, {
      client_name: 'Certified RP',
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: method,
    });
    expect(config.serverMetadata().issuer).toBe(ISSUER);

    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile email offline_access books:read',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await signInThroughPages(user, authorizationUrl);

    // The library checks state, iss (RFC 9207), the code exchange, and the ID
    // token: signature via the JWKS, iss, aud, azp, exp, iat, nonce.
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: ISSUER, sub: user.id, aud: registered.client_id, name: 'Grace Hopper', email: user.email, nonce });
    expect(tokens.refresh_token).toBeTruthy();

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: user.id, name: 'Grace Hopper', email: user.email, email_verified: false });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()).toMatchObject({ sub: user.id, auth_time: claims.auth_time });

    if (method !== 'none') {
      // Introspection is for confidential clients (RFC 7662 §2.1).
      expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toMatchObject({
        active: true,
        sub: user.id,
        client_id: registered.client_id,
      });
    }
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('RP-initiated logout: id_token_hint, confirmation, back to the registered URI with state', async () => {
    const { config } = await registerAndDiscover(ownerToken, {
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_URI],
    });
    expect(config.serverMetadata().end_session_endpoint).toBe(`${ISSUER}/oauth2/logout`);
    const browser = await signedInBrowser(user);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    const tokens = await oidc.authorizationCodeGrant(config, await signInThroughPages(user, url, browser), {
      pkceCodeVerifier: codeVerifier,
      idTokenExpected: true,
    });

    const logoutUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye',
    });
    const confirm = await browser.get(logoutUrl.pathname + logoutUrl.search);
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('>Sign out</button>');
    const done = await browser.post(formAction(html), hiddenFields(html));
    expect(done.status).toBe(303);
    expect(done.headers.get('Location')).toBe(`${POST_LOGOUT_URI}?state=bye`);
    // The session is gone: the account page asks to sign in again.
    expect((await browser.get('/account')).status).toBe(302);
  });

  it('PAR (RFC 9126): buildAuthorizationUrlWithPAR pushes the request, and the browser carries only client_id and request_uri', async () => {
    const { registered, config } = await registerAndDiscover(ownerToken, {
      redirect_uris: [REDIRECT_URI],
      require_pushed_authorization_requests: true,
    });
    expect(config.serverMetadata().pushed_authorization_request_endpoint).toBe(`${ISSUER}/oauth2/par`);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile books:read',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const callback = await signInThroughPages(user, url);
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    expect(tokens.claims()).toMatchObject({ iss: ISSUER, sub: user.id, aud: registered.client_id, nonce });
    // The client requires PAR: the plain URL is refused at its redirect URI.
    const plain = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    const refused = await (await signedInBrowser(user)).get(plain.pathname + plain.search);
    expect(new URL(refused.headers.get('Location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('dynamicClientRegistration, then read, update and delete through registration_client_uri (RFC 7592)', async () => {
    const config = await registerDynamically(
      { client_name: 'Self-managed RP', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_post' },
      // Without a ClientAuth, openid-client authenticates with client_secret_post and the issued secret.
      undefined,
      ownerToken,
    );
    const metadata = config.clientMetadata();
    const clientId = metadata.client_id;
    const uri = metadata.registration_client_uri as string;
    const token = metadata.registration_access_token as string;
    expect(uri).toBe(`${ISSUER}/oauth2/register/${clientId}`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The registered client works with its secret: a PAR code flow.
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    const tokens = await oidc.authorizationCodeGrant(config, await signInThroughPages(user, url), {
      pkceCodeVerifier: codeVerifier,
      idTokenExpected: true,
    });
    expect(tokens.claims()!.aud).toBe(clientId);

    // openid-client has no helpers for RFC 7592's read, update and delete: plain fetch with the token.
    const auth = { Authorization: `Bearer ${token}` };
    const read = await customFetch(uri, { headers: auth, method: 'GET', body: undefined, redirect: 'manual', signal: undefined });
    expect(read.status).toBe(200);
    const current = (await read.json()) as Record<string, unknown>;
    expect(current).toMatchObject({ client_id: clientId, client_name: 'Self-managed RP', registration_access_token: token });

    const { registration_access_token: _t, registration_client_uri: _u, client_id_issued_at: _i, ...replacement } = current;
    const update = await customFetch(uri, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...replacement, client_name: 'Renamed RP' }),
      redirect: 'manual',
      signal: undefined,
    });
    expect(update.status, await update.clone().text()).toBe(200);
    expect(((await update.json()) as Record<string, unknown>).client_name).toBe('Renamed RP');

    const removed = await customFetch(uri, { method: 'DELETE', headers: auth, body: undefined, redirect: 'manual', signal: undefined });
    expect(removed.status).toBe(204);
    // The client is gone: openid-client's own calls fail client authentication (401 with a challenge).
    await expect(oidc.refreshTokenGrant(config, 'anything')).rejects.toMatchObject({ status: 401 });
    const after = await customFetch(uri, { headers: auth, method: 'GET', body: undefined, redirect: 'manual', signal: undefined });
    expect(after.status).toBe(401);
  });
});
