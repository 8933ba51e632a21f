import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/index';
import { call, ISSUER } from './helpers';

describe('GET /.well-known metadata', () => {
  it('serves the same facts at the RFC 8414 and OIDC Discovery paths', async () => {
    const oauth = await call('/.well-known/oauth-authorization-server');
    const oidc = await call('/.well-known/openid-configuration');
    expect(oauth.status).toBe(200);
    expect(oidc.status).toBe(200);
    const metadata = await oauth.json();
    expect(await oidc.json()).toEqual(metadata);
    expect(metadata).toMatchObject({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/oauth2/authorize`,
      token_endpoint: `${ISSUER}/oauth2/token`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      registration_endpoint: `${ISSUER}/oauth2/register`,
      revocation_endpoint: `${ISSUER}/oauth2/revoke`,
      introspection_endpoint: `${ISSUER}/oauth2/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
      userinfo_endpoint: `${ISSUER}/oauth2/userinfo`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
      device_authorization_endpoint: `${ISSUER}/oauth2/device_authorization`,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'books:read', 'books:write'],
    });
  });

  it('says client ID metadata documents are supported (open registration is on by default)', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await (await call(path)).json()) as Record<string, unknown>;
      expect(metadata.client_id_metadata_document_supported, path).toBe(true);
      // Open registration needs no new field: the registration endpoint takes a public client without a token.
      expect(metadata.registration_endpoint).toBe(`${ISSUER}/oauth2/register`);
      expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
    }
  });

  it('says they are not when OPEN_REGISTRATION is off, and each setting has its own document', async () => {
    const read = async (setting: string | undefined) => {
      const response = await app.request(`${ISSUER}/.well-known/oauth-authorization-server`, {}, { ...env, OPEN_REGISTRATION: setting });
      return (await response.json()) as Record<string, unknown>;
    };
    expect((await read('off')).client_id_metadata_document_supported).toBe(false);
    expect((await read('public')).client_id_metadata_document_supported).toBe(true);
    // Unset is the default, public; a misspelling fails closed.
    expect((await read(undefined)).client_id_metadata_document_supported).toBe(true);
    expect((await read('pubic')).client_id_metadata_document_supported).toBe(false);
  });

  it('answers an unknown path with a JSON 404', async () => {
    const response = await call('/.well-known/nothing-here');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });
});
