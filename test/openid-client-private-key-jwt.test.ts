import { SELF } from 'cloudflare:test';
import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { Browser, createUser, formAction, hiddenFields, ISSUER, type TestUser, userToken } from './helpers';
import { clientKey, registerKeyClient } from './private-key-jwt-support';

// openid-client 6, an OpenID Certified relying party, authenticating with
// private_key_jwt (RFC 7523 §2.2): its own assertions (oauth4webapi's
// PrivateKeyJwt: aud the issuer, a fresh jti, 60 s) at Tollgate's token,
// introspection and revocation endpoints. Requests go to the Worker through
// SELF; allowInsecureRequests only for http://localhost.
const customFetch: oidc.CustomFetch = (url, options) => SELF.fetch(url, options as RequestInit);
const REDIRECT_URI = 'https://rp.example/callback';

async function discover(clientId: string, privateKey: CryptoKey, kid: string): Promise<oidc.Configuration> {
  const config = await oidc.discovery(new URL(ISSUER), clientId, undefined, oidc.PrivateKeyJwt({ key: privateKey, kid }), {
    execute: [oidc.allowInsecureRequests],
    [oidc.customFetch]: customFetch,
  });
  config[oidc.customFetch] = customFetch;
  return config;
}

/** The authorization URL through the real login and consent pages, back to the RP. */
async function signInThroughPages(user: TestUser, url: URL): Promise<URL> {
  const browser = new Browser();
  let response = await browser.get(url.pathname + url.search);
  if (response.status === 302 && response.headers.get('Location')!.startsWith('/login')) {
    const loginHtml = await (await browser.get(response.headers.get('Location')!)).text();
    const signedIn = await browser.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    response = await browser.get(signedIn.headers.get('Location')!);
  }
  expect(response.status).toBe(200);
  const consent = await response.text();
  const allowed = await browser.post(formAction(consent), { ...hiddenFields(consent), decision: 'allow' });
  expect(allowed.status).toBe(303);
  return new URL(allowed.headers.get('Location')!);
}

describe('openid-client with PrivateKeyJwt against Tollgate', () => {
  let user: TestUser;
  let ownerToken: string;

  beforeAll(async () => {
    user = await createUser({ name: 'Barbara Liskov' });
    ownerToken = await userToken(await createUser());
  });

  it.each(['ES256', 'RS256', 'EdDSA'] as const)('%s: client_credentials, introspection and revocation', async (alg) => {
    const key = await clientKey(alg);
    const client = await registerKeyClient(ownerToken, [key], { redirect_uris: [REDIRECT_URI] });
    const config = await discover(client.client_id, key.privateKey, key.kid);
    expect(config.serverMetadata().token_endpoint_auth_methods_supported).toContain('private_key_jwt');

    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'books:read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, client_id: client.client_id, sub: client.client_id });
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  });

  it('the code flow with PKCE, an ID token and a refresh, each request with a new assertion', async () => {
    const key = await clientKey('ES256');
    const client = await registerKeyClient(ownerToken, [key], { redirect_uris: [REDIRECT_URI] });
    const config = await discover(client.client_id, key.privateKey, key.kid);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile books:read',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      nonce,
    });
    const tokens = await oidc.authorizationCodeGrant(config, await signInThroughPages(user, url), {
      pkceCodeVerifier: codeVerifier,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(tokens.refresh_token).toBeDefined();
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
  });

  it('PAR (buildAuthorizationUrlWithPAR) authenticated with an assertion', async () => {
    const key = await clientKey('PS256');
    const client = await registerKeyClient(ownerToken, [key], { redirect_uris: [REDIRECT_URI] });
    const config = await discover(client.client_id, key.privateKey, key.kid);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const tokens = await oidc.authorizationCodeGrant(config, await signInThroughPages(user, url), {
      pkceCodeVerifier: codeVerifier,
      idTokenExpected: true,
    });
    expect(tokens.claims()!.aud).toBe(client.client_id);
  });

  it('dynamicClientRegistration with jwks, then the client authenticates with its key', async () => {
    const key = await clientKey('ES256');
    const config = await oidc.dynamicClientRegistration(
      new URL(ISSUER),
      {
        client_name: 'Key-holding RP',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk] },
      },
      oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: customFetch, initialAccessToken: ownerToken },
    );
    config[oidc.customFetch] = customFetch;
    const metadata = config.clientMetadata();
    expect(metadata.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(metadata.client_secret).toBeUndefined();
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'books:read' });
    expect(tokens.access_token).toBeTruthy();
  });
});
