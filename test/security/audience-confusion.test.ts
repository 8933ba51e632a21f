import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  createUser,
  expectJsonError,
  ISSUER,
  issueTokens,
  json,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  unique,
  userToken,
} from '../helpers';

// RFC 8707 §1 and RFC 9700 §2.3 (audience-restricted access tokens): a token
// made for one resource must not be replayed at another. The books API and
// the MCP server share a user's books, so a token a client got for one is the
// obvious thing to try at the other; and a refresh token or code must not be
// talked into a token for a resource that was never asked for (and consented
// to) in the authorization request.

const BOOKS = `${ISSUER}/api/books`;
const MCP = `${ISSUER}/mcp`;

function mcpCall(token: string, body: unknown): Promise<Response> {
  return call('/mcp', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...bearer(token) },
    body: JSON.stringify(body),
  });
}

function tokenRequest(client: RegisteredClient, fields: Record<string, string>, resources: string[]): Promise<Response> {
  const body = new URLSearchParams(fields);
  for (const resource of resources) body.append('resource', resource);
  return call('/oauth2/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
    body: body.toString(),
  });
}

async function bookCount(userId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from books where user_id = ?').bind(userId).first<{ n: number }>();
  return row!.n;
}

describe('audience confusion between the books API and /mcp', () => {
  let userId: string;
  let browser: Browser;
  let client: RegisteredClient;
  let mcpToken: string;
  let booksToken: string;

  beforeAll(async () => {
    const user = await createUser();
    userId = user.id;
    client = await registerClient(await userToken(user), { grant_types: ['authorization_code', 'refresh_token'] });
    browser = await signedInBrowser(user);
    mcpToken = (await issueTokens(browser, client, { scope: 'books:read books:write', resource: [MCP] })).access_token;
    booksToken = (await issueTokens(browser, client, { scope: 'books:read books:write' })).access_token;
  });

  it('refuses a token for /mcp at the books API with 401 invalid_token, reading and writing nothing', async () => {
    const before = await bookCount(userId);
    const read = await call('/api/books', { headers: bearer(mcpToken) });
    const body = await expectJsonError(read, 401, 'invalid_token');
    expect(JSON.stringify(body)).not.toContain('"title"');
    await expectJsonError(
      await json('/api/books', { title: unique('x'), author: 'y' }, { headers: bearer(mcpToken) }),
      401,
      'invalid_token',
    );
    expect(await bookCount(userId)).toBe(before);
  });

  it('refuses a books-API token at /mcp with 401 invalid_token, for every method, calling no tool', async () => {
    const before = await bookCount(userId);
    const call = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'add_book', arguments: { title: unique('x'), author: 'y' } },
    };
    await expectJsonError(await mcpCall(booksToken, call), 401, 'invalid_token');
    await expectJsonError(await mcpCall(booksToken, { jsonrpc: '2.0', id: 2, method: 'tools/list' }), 401, 'invalid_token');
    expect(await bookCount(userId)).toBe(before);
  });

  it('accepts each token where it belongs (the refusals above are about the audience, not the token)', async () => {
    expect((await call('/api/books', { headers: bearer(booksToken) })).status).toBe(200);
    const listed = await mcpCall(mcpToken, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    expect(listed.status).toBe(200);
  });

  describe('widening at the token endpoint', () => {
    it('will not turn a code for /mcp into a books-API token, nor the default code into an /mcp token', async () => {
      const forMcp = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
      const fields = (code: string, verifier: string) => ({
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirect_uris[0]!,
        code_verifier: verifier,
      });
      await expectJsonError(await tokenRequest(client, fields(forMcp.code, forMcp.verifier), [BOOKS]), 400, 'invalid_target');
      const forBooks = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      await expectJsonError(await tokenRequest(client, fields(forBooks.code, forBooks.verifier), [MCP]), 400, 'invalid_target');
    });

    it('will not refresh an /mcp grant into a books-API token, through any number of rotations', async () => {
      const issued = (await issueTokens(browser, client, { scope: 'books:read offline_access', resource: [MCP] })) as unknown as {
        refresh_token: string;
      };
      let refreshToken = issued.refresh_token;
      for (let rotation = 0; rotation < 3; rotation += 1) {
        const refresh = { grant_type: 'refresh_token', refresh_token: refreshToken };
        await expectJsonError(await tokenRequest(client, refresh, [BOOKS]), 400, 'invalid_target');
        await expectJsonError(await tokenRequest(client, refresh, [BOOKS, MCP]), 400, 'invalid_target');
        const next = await tokenRequest(client, refresh, []);
        expect(next.status).toBe(200);
        const body = (await next.json()) as { access_token: string; refresh_token: string };
        expect((await call('/api/books', { headers: bearer(body.access_token) })).status).toBe(401);
        refreshToken = body.refresh_token;
      }
    });

    it('refuses resources that are unknown, relative, with a fragment, or look-alikes of a known one', async () => {
      const issued = (await issueTokens(browser, client, { scope: 'books:read', resource: [MCP] })) as unknown as { refresh_token: string };
      const refresh = { grant_type: 'refresh_token', refresh_token: issued.refresh_token };
      for (const resource of [
        'https://attacker.example/mcp',
        '/mcp',
        'mcp',
        `${MCP}#`,
        `${MCP}?x=1`,
        MCP.toUpperCase(),
        `${MCP}/../api/books`,
        'http://127.0.0.1:8787/mcp',
      ]) {
        await expectJsonError(await tokenRequest(client, refresh, [resource]), 400, 'invalid_target');
      }
      // None of that spent the refresh token.
      expect((await tokenRequest(client, refresh, [MCP])).status).toBe(200);
    });
  });
});
