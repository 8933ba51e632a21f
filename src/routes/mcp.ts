import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { Hono } from 'hono';
import type { Deps } from '../deps';
import type { AppEnv } from '../env';
import { requireAccessToken } from '../middleware/bearer-auth';
import { limitBody } from '../middleware/body';
import { cors } from '../middleware/cors';
import { bookFields, bookView } from '../services/books';
import { MCP_SERVER } from '../services/resources';
import type { AccessTokenInfo } from '../services/tokens';
import { addBook, listBooksQuery } from '../storage/books';

/**
 * The books as a Model Context Protocol server, with the official SDK over
 * Streamable HTTP (MCP 2025-06-18 "Transports"), stateless: no session id, so
 * every POST stands alone and any isolate can answer it, with no Durable
 * Object. A fresh server and transport per request (the SDK's stateless
 * transport serves one request). Behind the same bearer check as the books
 * API, for tokens whose `aud` is this server (RFC 8707), and the same D1 books.
 */
export const mcp = new Hono<AppEnv>();

// Browser MCP clients (an inspector, a web assistant) call /mcp from their own
// origin and discover Tollgate from its 401; they send the protocol version
// header on every request after initialize (MCP "Transports" §protocol version).
mcp.use(cors({ origins: 'clients', discoverable: true, headers: ['Mcp-Protocol-Version'] }));

/** Who this server says it is in `initialize` (MCP "Lifecycle"). */
const SERVER_INFO = { name: 'tollgate-books', version: '1.0.0' };

/**
 * The server never asks the client for input (elicitation), the one thing
 * the SDK's server validates with JSON Schema; its default validator, Ajv,
 * compiles schemas to code with `new Function`, which Workers forbid. So none
 * is built, and one that refuses stands in.
 */
const noElicitation: jsonSchemaValidator = {
  getValidator() {
    throw new Error('this server does not elicit input');
  },
};

/** An MCP tool error (isError, MCP "Tools" §error handling): the model sees it; the HTTP answer stays 200. */
function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

/**
 * The SPEC's answer to a token without the tool's scope: an MCP tool error
 * naming insufficient_scope and the scope (RFC 6750 §3.1's code), never a
 * 401 (the token is good, it is only not enough for this tool).
 */
function scopeRefusal(token: AccessTokenInfo, tool: string, scope: string): CallToolResult | null {
  return token.scope.includes(scope) ? null : toolError(`insufficient_scope: ${tool} needs scope ${scope}`);
}

/** The books server for one request, acting for the token's user. */
function booksServer(deps: Deps, token: AccessTokenInfo): McpServer {
  const server = new McpServer(SERVER_INFO, { jsonSchemaValidator: noElicitation });
  server.registerTool(
    'list_books',
    {
      title: 'List books',
      description: "Lists the books in the signed-in user's library, oldest first. Needs scope books:read.",
      annotations: { readOnlyHint: true },
    },
    async function listBooks(): Promise<CallToolResult> {
      const refused = scopeRefusal(token, 'list_books', 'books:read');
      if (refused) return refused;
      const books = (await listBooksQuery(deps.db, token.sub)).map(bookView);
      return { content: [{ type: 'text', text: JSON.stringify(books) }] };
    },
  );
  server.registerTool(
    'add_book',
    {
      title: 'Add a book',
      description: "Adds a book to the signed-in user's library. Needs scope books:write.",
      // The REST API's limits (services/books.ts); the SDK answers a tool error for arguments that break them.
      inputSchema: bookFields,
      annotations: { readOnlyHint: false, idempotentHint: false },
    },
    async function addBookTool(fields): Promise<CallToolResult> {
      const refused = scopeRefusal(token, 'add_book', 'books:write');
      if (refused) return refused;
      const book = bookView(await addBook(deps.db, token.sub, fields));
      return { content: [{ type: 'text', text: JSON.stringify(book) }] };
    },
  );
  return server;
}

// MCP "Transports" §Streamable HTTP: a server that offers no SSE stream answers
// GET with 405; a stateless one has no session for DELETE to end. Answered
// before the token check: there is nothing here for any token.
mcp.on(['GET', 'DELETE'], '/', function mcpMethodNotAllowed(c) {
  return c.json(
    { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server is stateless; POST JSON-RPC messages' }, id: null },
    405,
    {
      Allow: 'POST',
    },
  );
});

mcp.post(
  '/',
  limitBody,
  // The books API's check (one D1 round trip) for this resource's audience;
  // the scope is each tool's own check. A client_credentials token has no
  // user's books to act on: 403 insufficient_scope, as at /api/books.
  requireAccessToken({ user: true, resource: MCP_SERVER }),
  async function mcpRequest(c) {
    const server = booksServer(c.var.deps, c.var.accessToken);
    // JSON answers rather than an SSE stream: every tool answers at once.
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    // Malformed JSON, a wrong Content-Type or Accept: the transport answers a JSON-RPC error with a 4xx.
    return transport.handleRequest(c.req.raw);
  },
);
