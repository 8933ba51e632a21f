import { env, SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { dpopCall, dpopKey, dpopTokenRequest } from './dpop-support';
import {
  authorizeWithConsent,
  type Browser,
  bearer,
  call,
  codeFields,
  createUser,
  ISSUER,
  issueTokens,
  type RegisteredClient,
  registerClient,
  revokeAs,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';

// The books MCP server at /mcp, driven by the official SDK's own client over
// Streamable HTTP, with tokens from the real code flow asking for
// resource={ISSUER}/mcp (RFC 8707).

const MCP = `${ISSUER}/mcp`;
const MCP_METADATA = `${ISSUER}/.well-known/oauth-protected-resource/mcp`;

/** The SDK's client connected to /mcp with `token`, its requests sent through SELF.fetch (in process, no network). */
async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(MCP), {
    fetch: (url, init) => SELF.fetch(url instanceof Request ? url : url.toString(), init),
    requestInit: { headers: bearer(token) },
  });
  const client = new Client({ name: 'tollgate-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

function text(result: unknown): string {
  const content = (result as CallToolResult).content;
  const first = content[0];
  expect(first?.type).toBe('text');
  return (first as { text: string }).text;
}

/** A JSON-RPC POST to /mcp as the SDK would send it, for the cases the SDK client never sends. */
function rpc(token: string | null, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return call('/mcp', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(token ? bearer(token) : {}),
      ...headers,
    },
    body,
  });
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});

describe('/mcp (MCP Streamable HTTP, stateless)', () => {
  let browser: Browser;
  let client: RegisteredClient;
  let mcpToken: string;
  let readOnlyMcpToken: string;
  let booksToken: string;

  beforeAll(async () => {
    const user = await createUser();
    client = await registerClient(await userToken(user));
    browser = await signedInBrowser(user);
    mcpToken = (await issueTokens(browser, client, { scope: 'books:read books:write', resource: [MCP] })).access_token;
    readOnlyMcpToken = (await issueTokens(browser, client, { scope: 'books:read', resource: [MCP] })).access_token;
    booksToken = (await issueTokens(browser, client, { scope: 'books:read books:write' })).access_token;
  });

  it('lists its two tools to the SDK client, add_book with its input schema', async () => {
    const mcp = await connect(mcpToken);
    expect(mcp.getServerVersion()).toMatchObject({ name: 'tollgate-books' });
    const { tools } = await mcp.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['add_book', 'list_books']);
    const addBook = tools.find((tool) => tool.name === 'add_book')!;
    expect(addBook.inputSchema).toMatchObject({ type: 'object', properties: { title: { type: 'string' }, author: { type: 'string' } } });
    expect(addBook.inputSchema.required).toEqual(expect.arrayContaining(['title', 'author']));
    await mcp.close();
  });

  it('add_book then list_books shows the book, and the REST API sees the same D1 row', async () => {
    const mcp = await connect(mcpToken);
    const title = unique('Middlemarch ');
    const added = await mcp.callTool({ name: 'add_book', arguments: { title: `  ${title} `, author: 'George Eliot' } });
    expect(added.isError).toBeFalsy();
    const book = JSON.parse(text(added)) as { id: string; title: string; author: string };
    // Trimmed, as the REST API trims.
    expect(book).toMatchObject({ title, author: 'George Eliot' });

    const listed = await mcp.callTool({ name: 'list_books', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(JSON.parse(text(listed))).toContainEqual(expect.objectContaining({ id: book.id, title }));

    const rest = await call('/api/books', { headers: bearer(booksToken) });
    expect(rest.status).toBe(200);
    expect(await rest.json()).toContainEqual(expect.objectContaining({ id: book.id, title }));
    await mcp.close();
  });

  it('answers add_book without books:write with an MCP tool error saying insufficient_scope, and adds nothing', async () => {
    const mcp = await connect(readOnlyMcpToken);
    const title = unique('Not added ');
    const refused = await mcp.callTool({ name: 'add_book', arguments: { title, author: 'Nobody' } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain('insufficient_scope');
    expect(text(refused)).toContain('books:write');
    // list_books still works with books:read, and the book is not there.
    const listed = await mcp.callTool({ name: 'list_books', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(JSON.stringify(JSON.parse(text(listed)))).not.toContain(title);
    await mcp.close();
  });

  it('holds add_book to the REST API limits: a tool error for an empty or overlong title, nothing stored', async () => {
    const mcp = await connect(mcpToken);
    for (const args of [{ title: '   ', author: 'A' }, { title: 'x'.repeat(201), author: 'A' }, { title: 'T' }]) {
      const refused = await mcp.callTool({ name: 'add_book', arguments: args });
      expect(refused.isError, JSON.stringify(args)).toBe(true);
    }
    const listed = JSON.parse(text(await mcp.callTool({ name: 'list_books', arguments: {} }))) as { title: string }[];
    expect(listed.some((book) => book.title.length > 200 || book.title.trim() === '')).toBe(false);
    await mcp.close();
  });

  it('takes a DPoP-bound token for /mcp with its proof (RFC 9449 §7.1): tools/call list_books answers', async () => {
    const key = await dpopKey();
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
    const issued = await dpopTokenRequest(client, key, codeFields(authorization));
    expect(issued.status, await issued.clone().text()).toBe(200);
    const { access_token, token_type } = (await issued.json()) as { access_token: string; token_type: string };
    expect(token_type).toBe('DPoP');
    const response = await dpopCall('/mcp', access_token, key, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_books', arguments: {} } }),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    const { result } = (await response.json()) as { result: CallToolResult };
    expect(result.isError).toBeFalsy();
    expect(Array.isArray(JSON.parse(text(result)))).toBe(true);
  });

  it('refuses a books-API token with 401 invalid_token and resource_metadata, before any MCP message is read', async () => {
    await expect(connect(booksToken)).rejects.toThrow();
    const response = await rpc(booksToken, INITIALIZE);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_token');
    const challenge = response.headers.get('WWW-Authenticate')!;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="${MCP_METADATA}"`);
  });

  it('answers no token with 401 and resource_metadata (RFC 9728 §5.1), the start of MCP authorization discovery', async () => {
    const response = await rpc(null, INITIALIZE);
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toBe(
      `Bearer realm="tollgate", resource_metadata="${MCP_METADATA}", DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"`,
    );
  });

  it('answers GET and DELETE with 405 and Allow: POST (stateless: no stream, no session)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await call('/mcp', { method, headers: { ...bearer(mcpToken), Accept: 'text/event-stream' } });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('Allow')).toBe('POST');
      expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    }
  });

  it('answers malformed JSON with a JSON-RPC parse error and a 400, never a 500', async () => {
    const response = await rpc(mcpToken, '{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
  });

  it('answers a body that is no JSON-RPC message, and a wrong Content-Type, with a 4xx', async () => {
    const invalid = await rpc(mcpToken, '{"hello": "world"}');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    const wrongType = await rpc(mcpToken, INITIALIZE, { 'Content-Type': 'text/plain' });
    expect(wrongType.status).toBe(415);
  });

  it('refuses a body over 64 KiB with 413 before reading it', async () => {
    const response = await rpc(mcpToken, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70_000) } }));
    expect(response.status).toBe(413);
  });

  it('answers a client_credentials token for /mcp with 403 insufficient_scope (no user to act for), never 401', async () => {
    const owner = await createUser();
    const service = await registerClient(await userToken(owner), { grant_types: ['client_credentials'], redirect_uris: [] });
    const issued = await call('/oauth2/token', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${service.client_id}:${service.client_secret}`)}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'books:read', resource: MCP }).toString(),
    });
    expect(issued.status, await issued.clone().text()).toBe(200);
    const { access_token } = (await issued.json()) as { access_token: string };
    const response = await rpc(access_token, INITIALIZE);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toBe('insufficient_scope');
    expect(response.headers.get('WWW-Authenticate')).toContain(`resource_metadata="${MCP_METADATA}"`);
  });

  it('stops answering a token at once when its grant is revoked (the D1 check runs on every message)', async () => {
    const owner = await createUser();
    const app = await registerClient(await userToken(owner));
    const token = (await issueTokens(await signedInBrowser(owner), app, { scope: 'books:read', resource: [MCP] })).access_token;
    expect((await rpc(token, INITIALIZE)).status).toBe(200);
    await revokeAs(app, token);
    const refused = await rpc(token, INITIALIZE);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('WWW-Authenticate')).toContain(`resource_metadata="${MCP_METADATA}"`);
  });

  it('answers any body with a 2xx or a 4xx, never a 500 or a stack trace, and a refused add_book stores nothing (fast-check)', async () => {
    const anyValue = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
      fc.constantFrom('x'.repeat(201), '', '   ', '<script>', "'; drop table books; --", '\u0000'),
    );
    const message = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .record(
          {
            jsonrpc: fc.oneof(fc.constant('2.0'), anyValue),
            id: fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null)),
            method: fc.oneof(
              fc.constantFrom('tools/call', 'tools/list', 'initialize', 'ping', 'resources/list'),
              fc.string({ maxLength: 20 }),
            ),
            params: fc.oneof(
              fc.record({
                name: fc.constantFrom('add_book', 'list_books', 'nope'),
                arguments: fc.dictionary(fc.constantFrom('title', 'author', 'x'), anyValue),
              }),
              fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 3 }),
              anyValue,
            ),
          },
          { requiredKeys: [] },
        )
        .map((value) => JSON.stringify(value)),
    );
    const books = async () => (await env.DB.prepare('select count(*) as n from books').first<{ n: number }>())!.n;
    await fc.assert(
      fc.asyncProperty(message, async (body) => {
        const before = await books();
        const response = await rpc(mcpToken, body);
        const text = await response.text();
        expect(response.status, text).toBeLessThan(500);
        expect(text).not.toMatch(/at .*\.(ts|js):\d+|SQLITE/);
        // A book is added only by a well-formed add_book call that the server answered without an error.
        if ((await books()) !== before) {
          expect(JSON.parse(body)).toMatchObject({ method: 'tools/call', params: { name: 'add_book' } });
          expect(JSON.parse(text).result.isError).toBeFalsy();
        }
      }),
      { numRuns: 60, seed: 20261201, endOnFailure: true },
    );
  });
});
