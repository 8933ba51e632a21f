import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_METADATA_MAX_TTL, CLIENT_METADATA_MIN_TTL } from '../src/config';
import { DOCUMENT_CALLBACK, documentClient, fetchesOf } from './client-metadata-support';
import {
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  call,
  createUser,
  expectErrorPage,
  expectJsonError,
  form,
  pkce,
  redeem,
  refreshAs,
  signedInBrowser,
} from './helpers';

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
// a client_id that is an https URL is fetched from the stand-in site
// https://client.example (test/stand-ins/turnstile-siteverify.js), checked,
// and kept as a clients row until its caching headers say it is stale.

const CALLBACK = DOCUMENT_CALLBACK;

async function clientRow(id: string) {
  return env.DB.prepare('select * from clients where id = ?')
    .bind(id)
    .first<{ owner_id: string | null; name: string; metadata_expires_at: number | null; token_endpoint_auth_method: string }>();
}

async function startAuthorization(browser: Browser, clientId: string, redirectUri = CALLBACK) {
  const { challenge } = await pkce();
  return browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'openid books:read',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    }),
  );
}

let browser: Browser;

beforeAll(async () => {
  browser = await signedInBrowser(await createUser());
});

describe('a client_id that is a client ID metadata document URL', () => {
  it('runs the whole code flow through the real pages, and the token endpoint knows the client', async () => {
    const client = documentClient();
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' });
    expect(authorization.location.origin + authorization.location.pathname).toBe(CALLBACK);
    const response = await redeem(client, authorization);
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const tokens = JSON.parse(text) as { access_token: string; refresh_token: string; id_token: string };
    expect(tokens.access_token).toBeTruthy();
    expect(JSON.parse(atob(tokens.id_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).aud).toBe(client.client_id);
    // Refresh works for it too, with no fetch: the row is fresh.
    expect((await refreshAs(client, tokens.refresh_token)).status).toBe(200);

    const row = await clientRow(client.client_id);
    expect(row).toMatchObject({ owner_id: null, name: 'Reading Helper', token_endpoint_auth_method: 'none' });
    // max-age=600 is within the bounds, so it is kept 600 seconds.
    const expiresIn = row!.metadata_expires_at! - Math.floor(Date.now() / 1000);
    expect(expiresIn).toBeGreaterThan(590);
    expect(expiresIn).toBeLessThanOrEqual(600);
    // One fetch served the authorization, the token and the refresh.
    expect(await fetchesOf(client.client_id)).toBe(1);
  });

  it('is fetched once while fresh: a second authorization does no fetch', async () => {
    const client = documentClient();
    expect((await startAuthorization(browser, client.client_id)).status).toBe(200);
    expect((await startAuthorization(browser, client.client_id)).status).toBe(200);
    expect(await fetchesOf(client.client_id)).toBe(1);
  });

  it('is fetched again once stale, and the row takes the new document', async () => {
    const client = documentClient('changing');
    const first = await startAuthorization(browser, client.client_id);
    expect(await first.text()).toContain('Version 1');
    // no-store: kept for the shortest time allowed.
    const row = await clientRow(client.client_id);
    expect(row!.metadata_expires_at! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(CLIENT_METADATA_MIN_TTL);
    await env.DB.prepare('update clients set metadata_expires_at = 1 where id = ?').bind(client.client_id).run();
    const second = await startAuthorization(browser, client.client_id);
    expect(await second.text()).toContain('Version 2');
    expect(await fetchesOf(client.client_id)).toBe(2);
    expect((await clientRow(client.client_id))!.name).toBe('Version 2');
  });

  it('keeps a document per Expires, and clamps a year-long max-age to the upper bound', async () => {
    const expiring = documentClient('expires');
    expect((await startAuthorization(browser, expiring.client_id)).status).toBe(200);
    const expiresIn = (await clientRow(expiring.client_id))!.metadata_expires_at! - Math.floor(Date.now() / 1000);
    expect(expiresIn).toBeGreaterThan(2 * 60 * 60 - 15);
    expect(expiresIn).toBeLessThanOrEqual(2 * 60 * 60);

    const longLived = documentClient('long-lived');
    expect((await startAuthorization(browser, longLived.client_id)).status).toBe(200);
    const keptFor = (await clientRow(longLived.client_id))!.metadata_expires_at! - Math.floor(Date.now() / 1000);
    expect(keptFor).toBeLessThanOrEqual(CLIENT_METADATA_MAX_TTL);
    expect(keptFor).toBeGreaterThan(CLIENT_METADATA_MAX_TTL - 15);
  });

  it('only accepts the redirect URIs the document lists (an error page, never a redirect)', async () => {
    const client = documentClient();
    const html = await expectErrorPage(await startAuthorization(browser, client.client_id, 'https://evil.example/callback'));
    expect(html).toContain('not registered');
  });

  it('loopback redirect URIs from the document may use any port (RFC 8252 §7.3)', async () => {
    const client = documentClient();
    expect((await startAuthorization(browser, client.client_id, 'http://127.0.0.1:49152/callback')).status).toBe(200);
  });

  it('a document that cannot be used is an error page at authorize, saying why', async () => {
    const cases: [string, string][] = [
      ['mismatch', 'client_id is not the URL'],
      ['secret', 'client_secret'],
      ['confidential', 'token_endpoint_auth_method must be none'],
      ['not-json', 'not JSON'],
      ['missing', 'HTTP 404'],
      ['hostile-javascript', 'javascript:'],
    ];
    for (const [kind, reason] of cases) {
      const client = documentClient(kind);
      const html = await expectErrorPage(await startAuthorization(browser, client.client_id));
      expect(html, kind).toContain(reason);
      expect(await clientRow(client.client_id), kind).toBeNull();
    }
  });

  it('a document that cannot be used is invalid_client at the token endpoint', async () => {
    const client = documentClient('mismatch');
    const response = await form('/oauth2/token', {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      code: 'x'.repeat(43),
      redirect_uri: CALLBACK,
      code_verifier: 'v'.repeat(43),
    });
    const body = await expectJsonError(response, 401, 'invalid_client');
    expect(body.error_description).toContain('client_id is not the URL');
  });

  it('is never fetched for a confidential authentication (a Basic header): only public clients have documents', async () => {
    const client = documentClient();
    const response = await form(
      '/oauth2/token',
      { grant_type: 'client_credentials' },
      { Authorization: `Basic ${btoa(`${encodeURIComponent(client.client_id)}:secret`)}` },
    );
    await expectJsonError(response, 401, 'invalid_client');
    expect(await fetchesOf(client.client_id)).toBe(0);
  });

  it('is an unknown app, with no fetch, when OPEN_REGISTRATION is off', async () => {
    const { app } = await import('../src/index');
    const client = documentClient();
    const { challenge } = await pkce();
    const response = await app.request(
      `http://localhost:8787${authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: CALLBACK,
        scope: 'books:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}`,
      {},
      { ...env, OPEN_REGISTRATION: 'off' },
    );
    const html = await expectErrorPage(response);
    expect(html).toContain('not registered');
    expect(await fetchesOf(client.client_id)).toBe(0);
  });
});

describe('the consent page for a client ID metadata document client', () => {
  it('marks it unverified and shows the redirect host', async () => {
    const client = documentClient('google');
    const html = await (await startAuthorization(browser, client.client_id)).text();
    expect(html).toContain('Unverified app');
    expect(html).toContain('app.client.example');
    expect(html).toContain('calls itself');
  });
});

describe('metadata', () => {
  it('the metadata documents say client ID metadata documents are supported', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const body = (await (await call(path)).json()) as Record<string, unknown>;
      expect(body.client_id_metadata_document_supported, path).toBe(true);
    }
  });
});
