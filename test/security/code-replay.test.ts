import { describe, expect, it } from 'vitest';
import {
  authorizeWithConsent,
  bearer,
  call,
  createUser,
  expectJsonError,
  introspectAs,
  REDIRECT_URI,
  type RegisteredClient,
  redeem,
  refreshAs,
  registerClient,
  type TokenResponseBody,
  userToken,
} from '../helpers';
import { grantRow, victim } from './support';

const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token'] };

type Tokens = TokenResponseBody & { refresh_token?: string };

async function tokensFrom(response: Response): Promise<Tokens> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Tokens;
}

async function expectRevoked(client: RegisteredClient, tokens: Tokens): Promise<void> {
  await expectJsonError(await call('/api/books', { headers: bearer(tokens.access_token) }), 401, 'invalid_token');
  await expectJsonError(await call('/oauth2/userinfo', { headers: bearer(tokens.access_token) }), 401, 'invalid_token');
  if (tokens.refresh_token) await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
  if (client.client_secret) expect(await introspectAs(client, tokens.access_token)).toEqual({ active: false });
}

describe('authorization code replay (RFC 6749 §4.1.2, RFC 9700 §4.5)', () => {
  it('RFC 6749 §4.1.2: a second redemption is invalid_grant, and the tokens of the first are revoked', async () => {
    const { user, browser, client } = await victim(WITH_REFRESH);
    const code = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const first = await tokensFrom(await redeem(client, code));
    expect(first.refresh_token).toBeDefined();
    expect((await call('/api/books', { headers: bearer(first.access_token) })).status).toBe(200);

    const replay = await expectJsonError(await redeem(client, code), 400, 'invalid_grant');
    expect(replay).not.toHaveProperty('access_token');
    await expectRevoked(client, first);
    expect(await grantRow(user.id, client.client_id)).toBeNull();
  });

  it('RFC 6749 §4.1.2: a replay after the first refresh also ends the rotated tokens', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const first = await tokensFrom(await redeem(client, code));
    const rotated = await tokensFrom(await refreshAs(client, first.refresh_token!));

    await expectJsonError(await redeem(client, code), 400, 'invalid_grant');
    await expectRevoked(client, rotated);
  });

  it('RFC 6749 §4.1.2: a public client’s code replayed is invalid_grant, and its tokens are revoked', async () => {
    const { browser, client } = await victim({ ...WITH_REFRESH, token_endpoint_auth_method: 'none' });
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read offline_access' });
    const first = await tokensFrom(await redeem(client, code));
    await expectJsonError(await redeem(client, code), 400, 'invalid_grant');
    await expectRevoked(client, first);
  });

  it('RFC 6749 §4.1.2: a redeemed code replayed by another client, or with another verifier, yields nothing', async () => {
    const { browser, client } = await victim();
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    await tokensFrom(await redeem(client, code));
    const thief = await registerClient(await userToken(await createUser()), { redirect_uris: [REDIRECT_URI] });
    await expectJsonError(await redeem(thief, code), 400, 'invalid_grant');
    await expectJsonError(await redeem(client, code, { code_verifier: 'x'.repeat(43) }), 400, 'invalid_grant');
  });

  it('RFC 6749 §4.1.2: of two concurrent redemptions exactly one gets tokens; the other invalid_grant, never a 500', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const code = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const responses = await Promise.all([redeem(client, code), redeem(client, code)]);
    const bodies = await Promise.all(responses.map((response) => response.clone().text()));
    expect(responses.map((response) => response.status).sort(), bodies.join('\n')).toEqual([200, 400]);
    await expectJsonError(responses.find((response) => response.status === 400)!, 400, 'invalid_grant');
  });
});
