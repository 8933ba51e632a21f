import { beforeAll, describe, expect, it } from 'vitest';
import { type DpopKey, dpopCall, dpopKey, dpopTokenRequest, proof, serverNonce } from '../dpop-support';
import {
  authorizeWithConsent,
  bearer,
  call,
  codeFields,
  createUser,
  decodeJwt,
  expectJsonError,
  ISSUER,
  registerClient,
  signedInBrowser,
  userToken,
} from '../helpers';

// RFC 9449 §11: what DPoP stops. A stolen proof cannot be played again
// (§11.1), a proof is good for one method and URI only (§4.3), a proof for one
// token says nothing for another (ath, §4.3 (12)), a bound token stolen alone
// is useless as a Bearer token (§7.1), and a public client's stolen refresh
// token is useless without its key (§5).

const SCOPE = 'openid offline_access books:read books:write';
const MCP = `${ISSUER}/mcp`;

describe('DPoP: replay and binding (RFC 9449 §11)', () => {
  let key: DpopKey;
  let token: string;
  let refreshToken: string;
  /** Bound to `key` too, for the MCP server (RFC 8707 resource /mcp): /mcp refuses any other token for its aud alone. */
  let mcpToken: string;
  let spa: Awaited<ReturnType<typeof registerClient>>;

  beforeAll(async () => {
    const user = await createUser();
    spa = await registerClient(await userToken(user), {
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const authorization = await authorizeWithConsent(await signedInBrowser(user), spa, { scope: SCOPE });
    key = await dpopKey();
    const response = await dpopTokenRequest(spa, key, codeFields(authorization));
    ({ access_token: token, refresh_token: refreshToken } = (await response.json()) as { access_token: string; refresh_token: string });
    const forMcp = await authorizeWithConsent(await signedInBrowser(user), spa, { scope: 'books:read', resource: [MCP] });
    const mcpResponse = await dpopTokenRequest(spa, key, codeFields(forMcp));
    expect(mcpResponse.status, await mcpResponse.clone().text()).toBe(200);
    mcpToken = ((await mcpResponse.json()) as { access_token: string }).access_token;
  });

  it('refuses a proof played again at a resource (its jti is single use)', async () => {
    const jws = await proof(key, { htm: 'GET', htu: '/api/books', accessToken: token });
    const send = () => call('/api/books', { headers: { Authorization: `DPoP ${token}`, DPoP: jws } });
    expect((await send()).status).toBe(200);
    await expectJsonError(await send(), 401, 'invalid_dpop_proof');
  });

  it('refuses a proof played again at the token endpoint, and rotates nothing', async () => {
    const jws = await proof(key, { nonce: await serverNonce() });
    const refresh = (token: string) =>
      call('/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: jws },
        body: new URLSearchParams({ client_id: spa.client_id, grant_type: 'refresh_token', refresh_token: token }).toString(),
      });
    const first = await refresh(refreshToken);
    expect(first.status).toBe(200);
    refreshToken = ((await first.json()) as { refresh_token: string }).refresh_token;
    await expectJsonError(await refresh(refreshToken), 400, 'invalid_dpop_proof');
    // The refused request did not spend the token (a spent one would revoke the family when used again).
    const next = await dpopTokenRequest(spa, key, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(next.status).toBe(200);
    refreshToken = ((await next.json()) as { refresh_token: string }).refresh_token;
  });

  it('refuses a proof made for another URI or another method', async () => {
    await expectJsonError(await dpopCall('/api/books', token, key, {}, { htu: '/oauth2/userinfo' }), 401, 'invalid_dpop_proof');
    await expectJsonError(
      await dpopCall('/api/books', token, key, {}, { htu: 'https://evil.example/api/books' }),
      401,
      'invalid_dpop_proof',
    );
    await expectJsonError(await dpopCall('/api/books', token, key, {}, { htm: 'POST' }), 401, 'invalid_dpop_proof');
  });

  it('refuses a proof whose ath names another access token', async () => {
    await expectJsonError(await dpopCall('/api/books', token, key, {}, { accessToken: `${token}x` }), 401, 'invalid_dpop_proof');
  });

  it('refuses the bound token downgraded to Bearer, at every resource', async () => {
    for (const path of ['/api/books', '/oauth2/userinfo']) {
      const response = await call(path, { headers: bearer(token) });
      await expectJsonError(response.clone(), 401, 'invalid_token');
      expect(response.headers.get('WWW-Authenticate')).toContain('DPoP realm="tollgate"');
    }
  });

  it('refuses the bound token downgraded to Bearer at /mcp, where with its proof it is taken', async () => {
    // A token for /mcp, so that its aud is not what refuses it.
    expect([decodeJwt(mcpToken).payload.aud].flat()).toContain(MCP);
    const init = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    };
    const taken = await dpopCall('/mcp', mcpToken, key, init);
    expect(taken.status, await taken.clone().text()).toBe(200);
    const downgraded = await call('/mcp', { ...init, headers: { ...init.headers, ...bearer(mcpToken) } });
    const body = await expectJsonError(downgraded.clone(), 401, 'invalid_token');
    expect(body.error_description).toMatch(/DPoP-bound/);
    expect(downgraded.headers.get('WWW-Authenticate')).toContain('DPoP realm="tollgate"');
  });

  it('refuses the bound token with a proof by another key (a thief’s own key)', async () => {
    const thief = await dpopKey();
    await expectJsonError(await dpopCall('/api/books', token, thief), 401, 'invalid_dpop_proof');
  });

  it('refuses the public client’s refresh token with another key, or none, and spends nothing', async () => {
    const thief = await dpopKey();
    await expectJsonError(
      await dpopTokenRequest(spa, thief, { grant_type: 'refresh_token', refresh_token: refreshToken }),
      400,
      'invalid_grant',
    );
    await expectJsonError(
      await dpopTokenRequest(spa, null, { grant_type: 'refresh_token', refresh_token: refreshToken }),
      400,
      'invalid_grant',
    );
    expect((await dpopTokenRequest(spa, key, { grant_type: 'refresh_token', refresh_token: refreshToken })).status).toBe(200);
  });
});
