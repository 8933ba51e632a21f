import { describe, expect, it } from 'vitest';
import {
  bearer,
  call,
  createUser,
  expectJsonError,
  introspectAs,
  issueTokens,
  type RegisteredClient,
  refreshAs,
  signedInBrowser,
  type TokenResponseBody,
} from '../helpers';
import { grantRow, victim } from './support';

const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token'] };

type Tokens = TokenResponseBody & { refresh_token: string };

async function rotate(client: RegisteredClient, refreshToken: string): Promise<Tokens> {
  const response = await refreshAs(client, refreshToken);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  const tokens = JSON.parse(text) as Tokens;
  // RFC 9700 §4.14.2: every use mints a new refresh token.
  expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(tokens.refresh_token).not.toBe(refreshToken);
  return tokens;
}

async function expectBooks(accessToken: string, status: 200 | 401): Promise<void> {
  const response = await call('/api/books', { headers: bearer(accessToken) });
  if (status === 200) expect(response.status, await response.text()).toBe(200);
  else await expectJsonError(response, 401, 'invalid_token');
}

/** Asserts the whole family is dead: every refresh and access token of it refused everywhere. */
async function expectFamilyDead(client: RegisteredClient, family: Tokens[]): Promise<void> {
  for (const tokens of family) {
    await expectJsonError(await refreshAs(client, tokens.refresh_token), 400, 'invalid_grant');
    await expectBooks(tokens.access_token, 401);
    if (client.client_secret) {
      expect(await introspectAs(client, tokens.access_token)).toEqual({ active: false });
      expect(await introspectAs(client, tokens.refresh_token)).toEqual({ active: false });
    }
  }
}

describe('refresh token replay (RFC 9700 §4.14)', () => {
  it('§4.14.2: a rotated token replayed is invalid_grant, and the family dies with its newest tokens', async () => {
    const { user, browser, client } = await victim(WITH_REFRESH);
    const first = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    const second = await rotate(client, first.refresh_token);
    await expectBooks(second.access_token, 200);

    const replay = await expectJsonError(await refreshAs(client, first.refresh_token), 400, 'invalid_grant');
    expect(String(replay.error_description)).toContain('already used');
    await expectFamilyDead(client, [first, second]);
    // The grant itself is gone: the user's account no longer lists the app.
    expect(await grantRow(user.id, client.client_id)).toBeNull();
  });

  it('§4.14.2: when the attacker rotates a stolen token first, the victim’s next use kills the attacker’s tokens', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const stolen = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    const attackers = await rotate(client, stolen.refresh_token);
    await expectBooks(attackers.access_token, 200);

    // The legitimate client, unaware, uses the token it holds.
    await expectJsonError(await refreshAs(client, stolen.refresh_token), 400, 'invalid_grant');
    await expectFamilyDead(client, [stolen, attackers]);
  });

  it('§4.14.2: replaying a token from the middle of a long chain kills its newest descendant', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const chain = [(await issueTokens(browser, client, { scope: 'books:read' })) as Tokens];
    for (let i = 0; i < 3; i += 1) chain.push(await rotate(client, chain.at(-1)!.refresh_token));
    await expectJsonError(await refreshAs(client, chain[1]!.refresh_token), 400, 'invalid_grant');
    await expectFamilyDead(client, chain);
  });

  it('§4.14.2: a public client’s rotated token replayed kills its family too', async () => {
    const { browser, client } = await victim({ ...WITH_REFRESH, token_endpoint_auth_method: 'none' });
    const first = (await issueTokens(browser, client, { scope: 'books:read offline_access' })) as Tokens;
    const second = await rotate(client, first.refresh_token);
    await expectJsonError(await refreshAs(client, first.refresh_token), 400, 'invalid_grant');
    await expectFamilyDead(client, [first, second]);
  });

  it('§4.14.2: only the replayed family dies: another user of the same client keeps their tokens', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const other = await signedInBrowser(await createUser());
    const victimTokens = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    const bystander = (await issueTokens(other, client, { scope: 'books:read' })) as Tokens;
    await rotate(client, victimTokens.refresh_token);
    await expectJsonError(await refreshAs(client, victimTokens.refresh_token), 400, 'invalid_grant');

    await expectBooks(bystander.access_token, 200);
    await rotate(client, bystander.refresh_token);
  });

  it('§4.14.2: of two concurrent uses of one token exactly one wins; the loser gets invalid_grant, never a 500', async () => {
    const { browser, client } = await victim(WITH_REFRESH);
    const { refresh_token } = (await issueTokens(browser, client, { scope: 'books:read' })) as Tokens;
    const responses = await Promise.all([refreshAs(client, refresh_token), refreshAs(client, refresh_token)]);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 400]);
    await expectJsonError(responses.find((response) => response.status === 400)!, 400, 'invalid_grant');
  });
});
