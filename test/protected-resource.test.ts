import { beforeAll, describe, expect, it } from 'vitest';
import {
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
  userToken,
} from './helpers';

// RFC 9728 protected resource metadata for the books API and /mcp (§3.1 path
// insertion), and the `resource_metadata` every 401 of those resources
// carries (§5.1), with `scope` on a 403 insufficient_scope (RFC 6750 §3).

const BOOKS = `${ISSUER}/api/books`;
const MCP = `${ISSUER}/mcp`;
const BOOKS_METADATA = `${ISSUER}/.well-known/oauth-protected-resource/api/books`;
const MCP_METADATA = `${ISSUER}/.well-known/oauth-protected-resource/mcp`;

/** The RFC 6750 §3 challenge's auth-params. */
function challenge(response: Response): Record<string, string> {
  const header = response.headers.get('WWW-Authenticate') ?? '';
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header.matchAll(/([a-z_]+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]));
}

describe('GET /.well-known/oauth-protected-resource/*', () => {
  it.each([
    ['/api/books', BOOKS, 'Tollgate books API'],
    ['/mcp', MCP, 'Tollgate books MCP server'],
  ])('describes %s: resource, authorization_servers, scopes, header bearer tokens', async (path, resource, name) => {
    const response = await call(`/.well-known/oauth-protected-resource${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(response.headers.get('Cache-Control')).toBe('public, max-age=300');
    const metadata = (await response.json()) as Record<string, unknown>;
    // §3.3: `resource` is exactly the identifier the metadata URL was made from.
    expect(metadata).toMatchObject({
      resource,
      authorization_servers: [ISSUER],
      scopes_supported: ['books:read', 'books:write'],
      bearer_methods_supported: ['header'],
      resource_name: name,
    });
    // Each authorization server named publishes its own metadata.
    const server = (await (await call('/.well-known/oauth-authorization-server')).json()) as Record<string, unknown>;
    expect(server.issuer).toBe(ISSUER);
    expect(server.protected_resources).toContain(resource);
  });

  it('links the books API to its documentation page', async () => {
    const metadata = (await (await call('/.well-known/oauth-protected-resource/api/books')).json()) as Record<string, unknown>;
    expect(metadata.resource_documentation).toBe(`${ISSUER}/demo`);
  });

  it('may be read from any origin, like the other metadata', async () => {
    const response = await call('/.well-known/oauth-protected-resource/mcp', { headers: { Origin: 'https://elsewhere.example' } });
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
  });

  it('answers 404 for a resource it does not protect, and for the bare prefix', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource/api',
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp/x',
    ]) {
      await expectJsonError(await call(path), 404, 'not_found');
    }
  });
});

describe('challenges point at the resource metadata (RFC 9728 §5.1)', () => {
  let client: RegisteredClient;
  let readOnlyBooks: string;
  let mcpToken: string;

  beforeAll(async () => {
    const user = await createUser();
    client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    readOnlyBooks = (await issueTokens(browser, client, { scope: 'books:read' })).access_token;
    mcpToken = (await issueTokens(browser, client, { scope: 'books:read', resource: [MCP] })).access_token;
  });

  it('names the books API metadata in every 401 of /api/books: no token, a malformed header, a bad token, a token for /mcp', async () => {
    const cases: [string, Record<string, string>][] = [
      ['no token', {}],
      ['not Bearer', { Authorization: 'Basic abc' }],
      ['garbage', bearer('not.a.token')],
      ['for /mcp', bearer(mcpToken)],
    ];
    for (const [label, headers] of cases) {
      for (const method of ['GET', 'POST']) {
        const response =
          method === 'GET' ? await call('/api/books', { headers }) : await json('/api/books', { title: 'T', author: 'A' }, { headers });
        expect(response.status, `${label} ${method}`).toBe(401);
        expect(challenge(response).resource_metadata, `${label} ${method}`).toBe(BOOKS_METADATA);
      }
    }
  });

  it('names the /mcp metadata in every 401 of /mcp', async () => {
    for (const headers of [{}, bearer('not.a.token'), bearer(readOnlyBooks)]) {
      const response = await call('/mcp', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
        body: '{}',
      });
      expect(response.status).toBe(401);
      expect(challenge(response).resource_metadata).toBe(MCP_METADATA);
    }
  });

  it('answers a token without the scope with 403, scope="books:write" and the metadata', async () => {
    const response = await json('/api/books', { title: 'T', author: 'A' }, { headers: bearer(readOnlyBooks) });
    expect(response.status).toBe(403);
    expect(challenge(response)).toMatchObject({ error: 'insufficient_scope', scope: 'books:write', resource_metadata: BOOKS_METADATA });
  });

  it('leaves userinfo (the authorization server’s own endpoint) without resource_metadata', async () => {
    const response = await call('/oauth2/userinfo');
    expect(response.status).toBe(401);
    expect(response.headers.get('WWW-Authenticate')).toBe(
      'Bearer realm="tollgate", DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"',
    );
  });
});
