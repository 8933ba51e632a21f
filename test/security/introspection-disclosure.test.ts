import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Browser,
  bearer,
  call,
  createUser,
  introspectAs,
  issueTokens,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from '../helpers';

// Issue 11, finding 1: introspection answered `username: <email>` for a token
// granted only `books:read offline_access`, while userinfo refused the same
// token the email. RFC 7662 §2.2 makes `username` optional; OIDC Core §5.4
// says the email is released only under the `email` scope. Introspection
// must not tell a resource server more about the user than the token allows.

let user: TestUser;
let browser: Browser;
let client: RegisteredClient;

beforeAll(async () => {
  user = await createUser({ name: 'Disclosure Victim' });
  browser = await signedInBrowser(user);
  client = await registerClient(await userToken(await createUser()), { grant_types: ['authorization_code', 'refresh_token'] });
});

describe('introspection discloses only what the token scope allows', () => {
  it('answers no email for an access or refresh token without the email scope', async () => {
    const tokens = await issueTokens(browser, client, { scope: 'books:read offline_access' });
    for (const token of [tokens.access_token, tokens.refresh_token as string]) {
      const body = await introspectAs(client, token);
      expect(body).toMatchObject({ active: true, sub: user.id });
      expect(body).not.toHaveProperty('username');
      expect(JSON.stringify(body)).not.toContain(user.email);
    }
  });

  it('matches userinfo: an openid token without email gets no email there either', async () => {
    const tokens = await issueTokens(browser, client, { scope: 'openid profile books:read offline_access' });
    const userinfo = (await (await call('/oauth2/userinfo', { headers: bearer(tokens.access_token) })).json()) as Record<string, unknown>;
    expect(userinfo).not.toHaveProperty('email');
    expect(JSON.stringify(await introspectAs(client, tokens.access_token))).not.toContain(user.email);
  });

  it('answers the email as username when the token holds the email scope', async () => {
    const tokens = await issueTokens(browser, client, { scope: 'openid email offline_access' });
    for (const token of [tokens.access_token, tokens.refresh_token as string]) {
      expect(await introspectAs(client, token)).toMatchObject({ active: true, username: user.email });
    }
  });
});
