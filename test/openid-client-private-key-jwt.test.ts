import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser, userToken } from './helpers';
import { discover as discoverWithAuth, REDIRECT_URI, registerDynamically, signInThroughPages } from './openid-client-support';
import { clientKey, registerKeyClient } from './private-key-jwt-support';

// openid-client 6, an OpenID Certified relying party, authenticating with
// private_key_jwt (RFC 7523 §2.2): its own assertions (oauth4webapi's
// PrivateKeyJwt: aud the issuer, a fresh jti, 60 s) at Tollgate's token,
// introspection and revocation endpoints. Requests go to the Worker through
// SELF (openid-client-support.ts).

function discover(clientId: string, privateKey: CryptoKey, kid: string): Promise<oidc.Configuration> {
  return discoverWithAuth(clientId, oidc.PrivateKeyJwt({ key: privateKey, kid }));
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
    const config = await registerDynamically(
      {
        client_name: 'Key-holding RP',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk] },
      },
      oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      ownerToken,
    );
    const metadata = config.clientMetadata();
    expect(metadata.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(metadata.client_secret).toBeUndefined();
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'books:read' });
    expect(tokens.access_token).toBeTruthy();
  });
});
