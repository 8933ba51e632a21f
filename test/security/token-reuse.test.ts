import { describe, expect, it } from 'vitest';
import {
  basic,
  bearer,
  call,
  createUser,
  expectJsonError,
  form,
  introspectAs,
  issueTokens,
  json,
  postAsClient,
  type RegisteredClient,
  refreshAs,
  registerClient,
  revokeAs,
  type TokenResponseBody,
  userToken,
} from '../helpers';
import { victim } from './support';

/**
 * Tokens are bound to the client they were issued to (RFC 6749 §10.4, RFC 7009
 * §2.1, RFC 7662 §4, RFC 9700 §4.14). Client B, however it got hold of client
 * A's tokens, can neither learn about them, revoke them, nor refresh them.
 */
const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token'] };

type Tokens = TokenResponseBody & { refresh_token: string };

async function setup(attackerMetadata: Record<string, unknown> = {}) {
  const { browser, client: clientA } = await victim(WITH_REFRESH);
  const tokens = (await issueTokens(browser, clientA, { scope: 'openid books:read' })) as Tokens;
  const clientB = await registerClient(await userToken(await createUser()), { ...WITH_REFRESH, ...attackerMetadata });
  return { clientA, clientB, tokens };
}

async function expectStillLive(clientA: RegisteredClient, tokens: Tokens): Promise<void> {
  const books = await call('/api/books', { headers: bearer(tokens.access_token) });
  expect(books.status, await books.text()).toBe(200);
  expect(await introspectAs(clientA, tokens.access_token)).toMatchObject({ active: true, client_id: clientA.client_id });
  expect(await introspectAs(clientA, tokens.refresh_token)).toMatchObject({ active: true, client_id: clientA.client_id });
}

describe('token reuse across clients', () => {
  it('RFC 7009 §2.1: client B revoking A’s access token gets 200, and nothing is revoked', async () => {
    const { clientA, clientB, tokens } = await setup();
    await revokeAs(clientB, tokens.access_token, { token_type_hint: 'access_token' });
    await revokeAs(clientB, tokens.access_token);
    await expectStillLive(clientA, tokens);
  });

  it('RFC 7009 §2.1: client B revoking A’s refresh token gets 200, and A can still refresh', async () => {
    const { clientA, clientB, tokens } = await setup();
    await revokeAs(clientB, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    await revokeAs(clientB, tokens.refresh_token);
    await expectStillLive(clientA, tokens);
    const refreshed = await refreshAs(clientA, tokens.refresh_token);
    expect(refreshed.status, await refreshed.text()).toBe(200);
  });

  it('RFC 7009 §2.1: a public client B revoking A’s tokens gets 200, and nothing is revoked', async () => {
    const { clientA, clientB, tokens } = await setup({ token_endpoint_auth_method: 'none' });
    await revokeAs(clientB, tokens.access_token);
    await revokeAs(clientB, tokens.refresh_token);
    await expectStillLive(clientA, tokens);
  });

  it('RFC 7662 §4: client B introspecting A’s access and refresh tokens learns only {active:false}', async () => {
    const { clientA, clientB, tokens } = await setup();
    expect(await introspectAs(clientB, tokens.access_token)).toEqual({ active: false });
    expect(await introspectAs(clientB, tokens.refresh_token)).toEqual({ active: false });
    expect(await introspectAs(clientB, tokens.id_token!)).toEqual({ active: false });
    // A itself sees them live: B's answer is not just "everything is inactive".
    await expectStillLive(clientA, tokens);
  });

  it('RFC 7662 §2.1: a public client cannot introspect at all (invalid_client)', async () => {
    const { clientB, tokens } = await setup({ token_endpoint_auth_method: 'none' });
    await expectJsonError(await postAsClient('/oauth2/introspect', clientB, { token: tokens.access_token }), 401, 'invalid_client');
  });

  it('RFC 7662 §4: client B introspecting A’s client_credentials token learns only {active:false}', async () => {
    const { ownerToken } = await victim();
    const machineA = await registerClient(ownerToken, { grant_types: ['client_credentials'], redirect_uris: [] });
    const machineB = await registerClient(await userToken(await createUser()), { grant_types: ['client_credentials'], redirect_uris: [] });
    const issued = await form(
      '/oauth2/token',
      { grant_type: 'client_credentials', scope: 'books:read' },
      { Authorization: basic(machineA.client_id, machineA.client_secret!) },
    );
    expect(issued.status).toBe(200);
    const { access_token } = (await issued.json()) as TokenResponseBody;
    expect(await introspectAs(machineB, access_token)).toEqual({ active: false });
    expect(await introspectAs(machineA, access_token)).toMatchObject({ active: true });
  });

  it('RFC 6749 §6: client B using A’s refresh token gets invalid_grant, and A’s family is not harmed', async () => {
    const { clientA, clientB, tokens } = await setup();
    const body = await expectJsonError(await refreshAs(clientB, tokens.refresh_token), 400, 'invalid_grant');
    expect(body).not.toHaveProperty('access_token');
    // Not treated as a replay by A: A's tokens and refresh token still work.
    await expectStillLive(clientA, tokens);
    const refreshed = await refreshAs(clientA, tokens.refresh_token);
    expect(refreshed.status, await refreshed.text()).toBe(200);
  });

  it('RFC 6749 §6: a public client B presenting A’s refresh token under its own client_id gets invalid_grant', async () => {
    const { clientA, clientB, tokens } = await setup({ token_endpoint_auth_method: 'none' });
    await expectJsonError(await refreshAs(clientB, tokens.refresh_token), 400, 'invalid_grant');
    await expectStillLive(clientA, tokens);
  });
});

describe('token reuse across audiences (RFC 9068 §4, RFC 8725 §3.11)', () => {
  it('RFC 9068 §4: a user API token is not an access token for the books API', async () => {
    const { ownerToken } = await victim();
    await expectJsonError(await call('/api/books', { headers: bearer(ownerToken) }), 401, 'invalid_token');
  });

  it('RFC 9068 §4: an ID token is not an access token (typ JWT, aud the client)', async () => {
    const { tokens } = await setup();
    await expectJsonError(await call('/api/books', { headers: bearer(tokens.id_token!) }), 401, 'invalid_token');
  });

  it('RFC 8725 §3.11: an access token is not a user API token for client registration', async () => {
    const { tokens } = await setup();
    const response = await json(
      '/oauth2/register',
      { client_name: 'Smuggled', redirect_uris: ['https://evil.example/cb'] },
      { headers: bearer(tokens.access_token) },
    );
    await expectJsonError(response, 401, 'invalid_token');
  });
});
