import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizeUrl, type Browser, createUser, expectErrorPage, expectJsonError, form, pkce, signedInBrowser, unique } from '../helpers';

// A client_id that is an https URL makes Tollgate fetch it: server-side
// request forgery if the URL may point inside a network, and a way to tie the
// server up if the answer is slow, large or a redirect. Each is refused: an
// error page at the authorization endpoint (never a redirect to the
// document's redirect URIs), invalid_client at the token endpoint, and no
// clients row. URLs refused from their text are never fetched at all.

const CALLBACK = 'https://app.client.example/callback';

let browser: Browser;

beforeAll(async () => {
  browser = await signedInBrowser(await createUser());
});

async function fetched(url: string): Promise<boolean> {
  const log = (await (await fetch('https://client.example/__log')).json()) as string[];
  return log.includes(url);
}

async function authorize(clientId: string): Promise<Response> {
  const { challenge } = await pkce();
  return browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'books:read',
      state: 'ssrf',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }),
  );
}

function token(clientId: string): Promise<Response> {
  return form('/oauth2/token', {
    grant_type: 'authorization_code',
    client_id: clientId,
    code: 'c'.repeat(43),
    redirect_uri: CALLBACK,
    code_verifier: 'v'.repeat(43),
  });
}

async function expectRefused(clientId: string, reason: string): Promise<void> {
  const html = await expectErrorPage(await authorize(clientId));
  expect(html).toContain(reason);
  const body = await expectJsonError(await token(clientId), 401, 'invalid_client');
  expect(body.error_description).toContain(reason);
  expect(await env.DB.prepare('select id from clients where id = ?').bind(clientId).first()).toBeNull();
}

describe('SSRF through a client ID metadata document URL: refused before any fetch', () => {
  it.each([
    ['a private address', 'https://10.0.0.5/client.json', 'private'],
    ['a private address (192.168)', 'https://192.168.1.1/client.json', 'private'],
    ['loopback', 'https://127.0.0.1/client.json', 'loopback'],
    ['IPv6 loopback', 'https://[::1]/client.json', 'not a global unicast'],
    ['IPv6 unique-local', 'https://[fd00::1]/client.json', 'not a global unicast'],
    ['link-local (cloud metadata)', 'https://169.254.169.254/latest/meta-data', 'link-local'],
    ['carrier-grade NAT', 'https://100.64.0.1/client.json', 'carrier-grade NAT'],
    ['localhost', 'https://localhost/client.json', 'inside a network'],
    ['an internal name', 'https://metadata.google.internal/client.json', 'inside a network'],
    ['plain http', 'http://client.example/good/x', 'not registered'],
    ['another port', 'https://client.example:8443/good/x', '443'],
    ['credentials', 'https://user:pw@client.example/good/x', 'credentials'],
    ['a dot segment', 'https://client.example/good/../admin', 'normal form'],
  ])('%s', async (_, clientId, reason) => {
    if (clientId.startsWith('http://')) {
      // Not an https URL, so not a document at all: an unknown client, and nothing fetched.
      await expectErrorPage(await authorize(clientId));
      await expectJsonError(await token(clientId), 401, 'invalid_client');
    } else {
      await expectRefused(clientId, reason);
    }
    expect(await fetched(clientId)).toBe(false);
  });
});

describe('SSRF through a client ID metadata document URL: what the fetch meets', () => {
  it('a redirect is not followed', async () => {
    const id = `https://client.example/redirect/${unique('r')}`;
    await expectRefused(id, 'redirect');
    // The redirect's target, a good document, was never fetched.
    expect(await fetched(id.replace('/redirect/', '/good/'))).toBe(false);
  });

  it('an oversize document is refused, by its Content-Length', async () => {
    await expectRefused(`https://client.example/oversize/${unique('o')}`, 'larger than 5120 bytes');
  });

  it('an oversize document is refused while streaming, without a Content-Length', async () => {
    await expectRefused(`https://client.example/oversize-stream/${unique('o')}`, 'larger than 5120 bytes');
  });

  it('a slow server is abandoned after the timeout', async () => {
    const started = Date.now();
    const html = await expectErrorPage(await authorize(`https://client.example/slow/${unique('s')}`));
    expect(html).toContain('did not arrive within 3 seconds');
    expect(Date.now() - started).toBeLessThan(4900);
  });

  it('a body that trickles in is abandoned after the timeout', async () => {
    const started = Date.now();
    const html = await expectErrorPage(await authorize(`https://client.example/slow-body/${unique('s')}`));
    expect(html).toContain('did not arrive within 3 seconds');
    expect(Date.now() - started).toBeLessThan(4900);
  });

  it('a document whose client_id is another URL is refused', async () => {
    await expectRefused(`https://client.example/mismatch/${unique('m')}`, 'client_id is not the URL');
  });

  it.each(['javascript', 'data', 'fragment', 'http', 'userinfo'])(
    'a document with a hostile redirect URI (%s) is refused',
    async (kind) => {
      await expectRefused(`https://client.example/hostile-${kind}/${unique('h')}`, 'redirect URI');
    },
  );
});
