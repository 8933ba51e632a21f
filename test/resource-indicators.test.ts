import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Authorization,
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  codeFields,
  createUser,
  decodeJwt,
  expectErrorRedirect,
  expectJsonError,
  ISSUER,
  introspectAs,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  storedHash,
  unique,
  userToken,
} from './helpers';

// RFC 8707 resource indicators at the authorization and token endpoints: the
// access token's `aud` is the resource (or resources) asked for, the books API
// when none is; a token request narrows, never widens; anything but a known
// absolute URI without a fragment is invalid_target.

const BOOKS = `${ISSUER}/api/books`;
const MCP = `${ISSUER}/mcp`;
const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] };

interface Tokens {
  access_token: string;
  refresh_token?: string;
  scope: string;
}

/** A token request as `client` (client_secret_basic), with `resource` repeated once per value (RFC 8707 §2). */
function tokenRequest(client: RegisteredClient, fields: Record<string, string>, resources: string[] = []): Promise<Response> {
  const body = new URLSearchParams(fields);
  for (const resource of resources) body.append('resource', resource);
  return call('/oauth2/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
    body: body.toString(),
  });
}

function redeem(client: RegisteredClient, authorization: Authorization, resources: string[] = []): Promise<Response> {
  const fields = codeFields(authorization);
  return tokenRequest(client, fields, resources);
}

async function tokens(response: Response): Promise<Tokens> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Tokens;
}

function audience(token: string): unknown {
  return decodeJwt(token).payload.aud;
}

/** The stored row of a code, by its hash. */
async function codeRow(code: string): Promise<{ resource: string | null; redeemed_at: number | null } | null> {
  return env.DB.prepare('select resource, redeemed_at from codes where hash = ?')
    .bind(await storedHash(code))
    .first();
}

describe('RFC 8707 resource indicators', () => {
  let browser: Browser;
  let client: RegisteredClient;

  beforeAll(async () => {
    const user = await createUser();
    client = await registerClient(await userToken(user), WITH_REFRESH);
    browser = await signedInBrowser(user);
  });

  describe('at the authorization endpoint', () => {
    it('makes the access token for the resource asked for: aud is /mcp', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
      expect(await codeRow(authorization.code)).toMatchObject({ resource: JSON.stringify([MCP]) });
      const issued = await tokens(await redeem(client, authorization));
      expect(audience(issued.access_token)).toBe(MCP);
    });

    it('keeps aud the books API when no resource is asked (as before), and stores no resource', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      expect(await codeRow(authorization.code)).toMatchObject({ resource: null });
      expect(audience((await tokens(await redeem(client, authorization))).access_token)).toBe(BOOKS);
    });

    it('takes several resources (repeated parameter): aud lists both, and the token works at both', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [BOOKS, MCP] });
      const issued = await tokens(await redeem(client, authorization));
      expect(audience(issued.access_token)).toEqual([BOOKS, MCP]);
      expect((await call('/api/books', { headers: bearer(issued.access_token) })).status).toBe(200);
    });

    it('counts a resource sent twice once', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP, MCP] });
      expect(audience((await tokens(await redeem(client, authorization))).access_token)).toBe(MCP);
    });

    it.each([
      ['an unknown resource', 'https://evil.example/api'],
      ['a relative reference', '/mcp'],
      ['a URI with a fragment', `${MCP}#frag`],
      ['another path under the issuer', `${ISSUER}/api`],
      ['a URI that differs only by a trailing slash', `${MCP}/`],
    ])('sends invalid_target back to the client for %s, with no consent page', async (_, resource) => {
      const { challenge } = await pkce();
      const state = unique('state');
      const url = `${authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'books:read',
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}&resource=${encodeURIComponent(resource)}`;
      expectErrorRedirect(await browser.get(url), { status: 302, redirectUri: client.redirect_uris[0]!, error: 'invalid_target', state });
    });
  });

  describe('at the token endpoint (authorization_code)', () => {
    it('narrows: a code for both resources, a token request for /mcp only', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [BOOKS, MCP] });
      const issued = await tokens(await redeem(client, authorization, [MCP]));
      expect(audience(issued.access_token)).toBe(MCP);
    });

    it('never widens: a code for /mcp asked for the books API is invalid_target, and the code is not spent', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
      await expectJsonError(await redeem(client, authorization, [BOOKS]), 400, 'invalid_target');
      await expectJsonError(await redeem(client, authorization, [MCP, BOOKS]), 400, 'invalid_target');
      expect(await codeRow(authorization.code)).toMatchObject({ redeemed_at: null });
      expect(audience((await tokens(await redeem(client, authorization, [MCP]))).access_token)).toBe(MCP);
    });

    it('never widens from the default: a code without resource asked for /mcp is invalid_target', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      await expectJsonError(await redeem(client, authorization, [MCP]), 400, 'invalid_target');
      expect(audience((await tokens(await redeem(client, authorization, [BOOKS]))).access_token)).toBe(BOOKS);
    });

    it('refuses an unknown, relative or fragment resource with invalid_target before touching the code', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      for (const resource of ['https://evil.example/', 'api/books', `${BOOKS}#x`, 'not a uri']) {
        await expectJsonError(await redeem(client, authorization, [resource]), 400, 'invalid_target');
      }
      expect(await codeRow(authorization.code)).toMatchObject({ redeemed_at: null });
      await tokens(await redeem(client, authorization));
    });

    it('refuses more resource values than there are resources with invalid_request', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      await expectJsonError(await redeem(client, authorization, [BOOKS, MCP, BOOKS]), 400, 'invalid_request');
    });

    it('still refuses any other repeated parameter (RFC 6749 §3.2)', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
      const body = `${new URLSearchParams(codeFields(authorization))}&redirect_uri=${encodeURIComponent(authorization.redirectUri)}`;
      const response = await call('/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.client_id, client.client_secret!) },
        body,
      });
      await expectJsonError(response, 400, 'invalid_request');
    });
  });

  describe('at the token endpoint (refresh_token)', () => {
    it('narrows per refresh and keeps the grant’s resources through rotations', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [BOOKS, MCP] });
      const first = await tokens(await redeem(client, authorization));
      expect(audience(first.access_token)).toEqual([BOOKS, MCP]);

      const toMcp = await tokens(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: first.refresh_token! }, [MCP]));
      expect(audience(toMcp.access_token)).toBe(MCP);
      // The rotated token still holds both: the next refresh may name the books API.
      const toBooks = await tokens(
        await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: toMcp.refresh_token! }, [BOOKS]),
      );
      expect(audience(toBooks.access_token)).toBe(BOOKS);
      const both = await tokens(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: toBooks.refresh_token! }));
      expect(audience(both.access_token)).toEqual([BOOKS, MCP]);
    });

    it('never widens: a refresh token for /mcp asked for the books API is invalid_target and is not spent', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
      const first = await tokens(await redeem(client, authorization));
      const refresh = { grant_type: 'refresh_token', refresh_token: first.refresh_token! };
      await expectJsonError(await tokenRequest(client, refresh, [BOOKS]), 400, 'invalid_target');
      await expectJsonError(await tokenRequest(client, refresh, [MCP, BOOKS]), 400, 'invalid_target');
      const next = await tokens(await tokenRequest(client, refresh));
      expect(audience(next.access_token)).toBe(MCP);
    });

    it('tells a wider scope (invalid_scope) from a wider resource (invalid_target)', async () => {
      const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] });
      const first = await tokens(await redeem(client, authorization));
      const refresh = { grant_type: 'refresh_token', refresh_token: first.refresh_token! };
      await expectJsonError(await tokenRequest(client, { ...refresh, scope: 'books:write' }, [MCP]), 400, 'invalid_scope');
      await expectJsonError(await tokenRequest(client, { ...refresh, scope: 'books:read' }, [BOOKS]), 400, 'invalid_target');
    });
  });

  describe('at the token endpoint (client_credentials)', () => {
    it('makes a client’s own token for the resource asked for, the books API by default', async () => {
      const cc = { grant_type: 'client_credentials', scope: 'books:read' };
      expect(audience((await tokens(await tokenRequest(client, cc, [MCP]))).access_token)).toBe(MCP);
      expect(audience((await tokens(await tokenRequest(client, cc))).access_token)).toBe(BOOKS);
      await expectJsonError(await tokenRequest(client, cc, ['https://evil.example/']), 400, 'invalid_target');
    });
  });

  it('introspection reports the token’s aud', async () => {
    const mcpOnly = await tokens(
      await redeem(client, await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [MCP] })),
    );
    expect(await introspectAs(client, mcpOnly.access_token)).toMatchObject({ active: true, aud: MCP });
    const both = await tokens(
      await redeem(client, await authorizeWithConsent(browser, client, { scope: 'books:read', resource: [BOOKS, MCP] })),
    );
    expect(await introspectAs(client, both.access_token)).toMatchObject({ active: true, aud: [BOOKS, MCP] });
  });

  it('lists the protected resources in both metadata documents (RFC 9728 §4)', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await (await call(path)).json()) as Record<string, unknown>;
      expect(metadata.protected_resources, path).toEqual([BOOKS, MCP]);
    }
  });
});

describe('a resource carried through sign-in', () => {
  it('survives the sealed request while a signed-out browser signs in', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), WITH_REFRESH);
    const { Browser } = await import('./helpers');
    const browser = new Browser();
    const { verifier, challenge } = await pkce();
    const state = unique('state');
    const start = await browser.get(
      `${authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'books:read',
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}&resource=${encodeURIComponent(MCP)}`,
    );
    expect(start.status).toBe(302);
    const login = new URL(start.headers.get('Location')!, ISSUER);
    const signedIn = await browser.submit(login.pathname + login.search, { email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    const consent = await browser.get(signedIn.headers.get('Location')!);
    expect(consent.status).toBe(200);
    const html = await consent.text();
    const { formAction, hiddenFields } = await import('./helpers');
    const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    const code = new URL(decision.headers.get('Location')!).searchParams.get('code')!;
    const issued = await tokens(
      await redeem(client, { code, verifier, redirectUri: client.redirect_uris[0]!, state, location: new URL(ISSUER) }),
    );
    expect(audience(issued.access_token)).toBe(MCP);
  });
});

describe('the consent page names where the token will be used', () => {
  async function consentPageFor(resources: string[]): Promise<string> {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    const { challenge } = await pkce();
    const query = authorizeUrl({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0],
      scope: 'books:read',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const page = await browser.get(query + resources.map((resource) => `&resource=${encodeURIComponent(resource)}`).join(''));
    expect(page.status).toBe(200);
    return page.text();
  }

  it('by the resource names of RFC 9728: the MCP server, the books API, or both', async () => {
    const mcp = await consentPageFor([MCP]);
    expect(mcp).toContain('Through: Tollgate books MCP server.');
    expect(mcp).not.toContain('Tollgate books API');
    expect(await consentPageFor([])).toContain('Through: Tollgate books API.');
    expect(await consentPageFor([BOOKS, MCP])).toContain('Through: Tollgate books API, Tollgate books MCP server.');
  });
});
