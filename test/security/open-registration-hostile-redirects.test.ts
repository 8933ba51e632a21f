import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  type Browser,
  createUser,
  expectErrorPage,
  expectJsonError,
  json,
  pkce,
  type RegisteredClient,
  signedInBrowser,
  unique,
} from '../helpers';

// Open registration lets anyone register a client, so anyone can try to make
// Tollgate send a browser, with a code, somewhere harmful: a script URL, a
// page on another host, a URI the client did not register. Every such
// redirect URI is refused at registration (400 invalid_redirect_uri, nothing
// stored), and at the authorization endpoint only an exact registered URI is
// ever redirected to.

const REGISTER = '/oauth2/register';

async function clientCount(): Promise<number> {
  return (await env.DB.prepare('select count(*) as n from clients').first<{ n: number }>())!.n;
}

function registerAnonymously(redirectUris: string[]): Promise<Response> {
  return json(REGISTER, { client_name: unique('Hostile'), redirect_uris: redirectUris, token_endpoint_auth_method: 'none' });
}

describe('anonymous registration with hostile redirect URIs', () => {
  it.each([
    ['a script URL', 'javascript:alert(document.cookie)'],
    ['a script URL in capitals', 'JavaScript:alert(1)//'],
    ['a script URL with a dotted look', 'javascript://com.example.app/%0aalert(1)'],
    ['a data URL', 'data:text/html,<script>alert(1)</script>'],
    ['a VBScript URL', 'vbscript:msgbox(1)'],
    ['a file URL', 'file:///etc/passwd'],
    ['a blob URL', 'blob:https://app.example/uuid'],
    ['a fragment', 'https://app.example/cb#access_token'],
    ['an empty fragment', 'https://app.example/cb#'],
    ['credentials', 'https://user:pass@app.example/cb'],
    ['a user name alone', 'https://trusted.example@evil.example/cb'],
    ['http off loopback', 'http://app.example/cb'],
    ['http to a lookalike of loopback', 'http://127.0.0.1.evil.example/cb'],
    ['http to a lookalike of localhost', 'http://localhost.evil.example/cb'],
    ['http to an IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/cb'],
    ['a private-use scheme without a period', 'myapp:/cb'],
    ['a relative URI', '/cb'],
    ['a scheme-relative URI', '//evil.example/cb'],
    ['a tab inside the scheme', 'java\tscript:alert(1)'],
    ['a backslash', 'https://app.example\\@evil.example/cb'],
    ['a newline', 'https://app.example/cb\nLocation: https://evil.example'],
  ])('refuses %s, storing nothing', async (_, uri) => {
    const before = await clientCount();
    await expectJsonError(await registerAnonymously([uri]), 400, 'invalid_redirect_uri');
    // One hostile URI among good ones spoils the registration too.
    await expectJsonError(await registerAnonymously(['https://app.example/cb', uri]), 400, 'invalid_redirect_uri');
    expect(await clientCount()).toBe(before);
  });

  it.each([
    ['https', 'https://app.example/cb'],
    ['loopback IPv4 http, any port', 'http://127.0.0.1:53682/cb'],
    ['loopback IPv6 http', 'http://[::1]/cb'],
    ['localhost http', 'http://localhost:8080/cb'],
    ['a reverse-domain private-use scheme', 'com.example.notes:/oauth2redirect'],
  ])('accepts %s (RFC 8252 §7)', async (_, uri) => {
    const response = await registerAnonymously([uri]);
    expect(response.status, await response.clone().text()).toBe(201);
  });
});

describe('an anonymous client at the authorization endpoint', () => {
  let browser: Browser;
  let client: RegisteredClient;

  beforeAll(async () => {
    browser = await signedInBrowser(await createUser());
    const response = await registerAnonymously(['https://app.example/cb']);
    client = (await response.json()) as RegisteredClient;
  });

  it.each([
    'https://evil.example/cb',
    'https://app.example/cb/../../evil',
    'https://app.example/cb?next=https://evil.example',
    'https://app.example/CB',
    'https://app.example.evil.example/cb',
    'javascript:alert(1)',
  ])('never redirects to %s, which it did not register: an error page', async (redirectUri) => {
    const { challenge } = await pkce();
    const response = await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: redirectUri,
        scope: 'books:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    await expectErrorPage(response);
  });
});
