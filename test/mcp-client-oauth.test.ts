import { SELF } from 'cloudflare:test';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, decodeJwt, formAction, hiddenFields, ISSUER, type TestUser, unique } from './helpers';

// Issue 12's proof: the official MCP SDK client meets Tollgate's /mcp with no
// prior setup and finds its own way in, as an AI assistant or IDE would:
// 401 → protected resource metadata (RFC 9728) → authorization server
// metadata (RFC 8414) → open registration (RFC 7591) or a client ID metadata
// document → the real sign-in and consent pages → code → token with
// `resource` (RFC 8707) → tools. Every request goes through SELF.fetch (in
// process); the metadata document comes from the test stand-in worker.

const MCP = `${ISSUER}/mcp`;
/** A loopback redirect (RFC 8252 §7.3): the one a desktop MCP client listens on. */
const REDIRECT = 'http://127.0.0.1/callback';

const inProcess: typeof fetch = (url, init) => SELF.fetch(url instanceof Request ? url : url.toString(), init);

/** An OAuthClientProvider as an MCP client implements one, keeping everything in memory. */
class MemoryProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;

  constructor(readonly clientMetadataUrl?: string) {}

  get redirectUrl(): string {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'SDK test client',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'books:read books:write',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

function transportFor(provider: MemoryProvider): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(MCP), { authProvider: provider, fetch: inProcess });
}

/**
 * A person in a browser at the authorization URL the SDK made: signs in on
 * the real /login page, answers the real consent page, and returns the code
 * from the redirect to the client's loopback address, with the consent page.
 */
async function approveInBrowser(url: URL, user: TestUser, decision: 'allow' | 'deny' = 'allow') {
  const browser = new Browser();
  const toLogin = await browser.get(url.href);
  expect(toLogin.status).toBe(302);
  const loginHtml = await (await browser.get(toLogin.headers.get('Location')!)).text();
  const signedIn = await browser.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email: user.email, password: user.password });
  expect(signedIn.status).toBe(303);
  const consent = await browser.get(signedIn.headers.get('Location')!);
  expect(consent.status).toBe(200);
  const consentHtml = await consent.text();
  const answered = await browser.post(formAction(consentHtml), { ...hiddenFields(consentHtml), decision });
  expect(answered.status).toBe(303);
  const callback = new URL(answered.headers.get('Location')!);
  expect(callback.origin + callback.pathname).toBe(REDIRECT);
  expect(callback.searchParams.get('iss')).toBe(ISSUER);
  return { code: callback.searchParams.get('code'), callback, consentHtml };
}

/** The whole first connection: 401, discovery, registration, consent, tokens. Returns the provider holding the tokens. */
async function signInThroughTheSdk(provider: MemoryProvider, user: TestUser) {
  const first = transportFor(provider);
  await expect(new Client({ name: 'sdk-test', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
  const url = provider.authorizationUrl;
  expect(url, 'the SDK sent the user to the authorization endpoint').toBeDefined();
  expect(url!.origin + url!.pathname).toBe(`${ISSUER}/oauth2/authorize`);
  // It found /mcp's resource identifier in the protected resource metadata.
  expect(url!.searchParams.get('resource')).toBe(MCP);
  expect(url!.searchParams.get('code_challenge_method')).toBe('S256');
  const { code, consentHtml } = await approveInBrowser(url!, user);
  await first.finishAuth(code!);
  return { consentHtml };
}

async function connected(provider: MemoryProvider): Promise<Client> {
  const client = new Client({ name: 'sdk-test', version: '1.0.0' });
  await client.connect(transportFor(provider));
  return client;
}

function text(result: unknown): string {
  const [first] = (result as CallToolResult).content;
  expect(first?.type).toBe('text');
  return (first as { text: string }).text;
}

describe('the MCP SDK client connects to /mcp with no prior setup', () => {
  it('through open registration: tools/list, add_book, list_books', async () => {
    const user = await createUser();
    const provider = new MemoryProvider();
    const { consentHtml } = await signInThroughTheSdk(provider, user);

    // It registered itself anonymously: a public client owned by no one,
    // which the consent page marked unverified.
    expect(provider.client?.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(provider.client).not.toHaveProperty('client_secret');
    expect(consentHtml.toLowerCase()).toContain('unverified');
    expect(consentHtml).toContain('127.0.0.1');

    // The access token is for /mcp only (RFC 8707), with the scopes asked for.
    const access = decodeJwt(provider.saved!.access_token).payload;
    expect(access.aud).toBe(MCP);
    expect(String(access.scope).split(' ').sort()).toEqual(['books:read', 'books:write']);
    expect(access.client_id).toBe(provider.client?.client_id);

    const client = await connected(provider);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['add_book', 'list_books']);
    const title = unique('SDK book ');
    const added = await client.callTool({ name: 'add_book', arguments: { title, author: 'Model Context' } });
    expect(added.isError ?? false).toBe(false);
    const listed = await client.callTool({ name: 'list_books', arguments: {} });
    expect(text(listed)).toContain(title);
    await client.close();
  });

  it('through a client ID metadata document: the client_id is the document URL', async () => {
    const user = await createUser();
    const documentUrl = `https://client.example/good/${unique('sdk')}`;
    const provider = new MemoryProvider(documentUrl);
    await signInThroughTheSdk(provider, user);

    // The SDK used the URL as its client_id, because Tollgate advertises
    // client_id_metadata_document_supported, and registered nothing.
    expect(provider.client?.client_id).toBe(documentUrl);
    expect(decodeJwt(provider.saved!.access_token).payload.client_id).toBe(documentUrl);

    const client = await connected(provider);
    const title = unique('CIMD book ');
    await client.callTool({ name: 'add_book', arguments: { title, author: 'Metadata' } });
    expect(text(await client.callTool({ name: 'list_books', arguments: {} }))).toContain(title);
    await client.close();
  });

  it('the user denying consent leaves the SDK client without tokens', async () => {
    const user = await createUser();
    const provider = new MemoryProvider();
    const first = transportFor(provider);
    await expect(new Client({ name: 'sdk-test', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    const { code, callback } = await approveInBrowser(provider.authorizationUrl!, user, 'deny');
    expect(code).toBeNull();
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(provider.saved).toBeUndefined();
  });
});
