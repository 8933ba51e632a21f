import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  basic,
  createUser,
  form,
  formAction,
  hiddenFields,
  ISSUER,
  pkce,
  type RegisteredClient,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

async function authorize(browser: Browser, client: RegisteredClient, extra: Record<string, string> = {}) {
  const { verifier, challenge } = await pkce();
  const response = await browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0],
      scope: 'books:read',
      state: 'st-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    }),
  );
  return { response, verifier };
}

describe('GET /oauth2/authorize remembered consent', () => {
  let browser: Browser;
  let ownerToken: string;

  beforeAll(async () => {
    const user = await createUser();
    ownerToken = await userToken(user);
    browser = await signedInBrowser(user);
  });

  it('does not ask again for scopes already granted: straight back with code, state and iss', async () => {
    const client = await registerClient(ownerToken);
    await authorizeWithConsent(browser, client, { scope: 'books:read books:write' });
    const { response, verifier } = await authorize(browser, client, { scope: 'books:read' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('Location')!);
    expect(location.origin + location.pathname).toBe(client.redirect_uris[0]);
    expect(location.searchParams.get('state')).toBe('st-1');
    expect(location.searchParams.get('iss')).toBe(ISSUER);
    const code = location.searchParams.get('code')!;
    const tokens = await redeem(client, { code, verifier, redirectUri: client.redirect_uris[0]!, state: 'st-1', location });
    expect(tokens.status).toBe(200);
    expect(((await tokens.json()) as { scope: string }).scope).toBe('books:read');
  });

  it('asks for a scope not granted before, and then remembers it too', async () => {
    const client = await registerClient(ownerToken);
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const { response } = await authorize(browser, client, { scope: 'books:read books:write' });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Add books to your library');
    const allowed = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    expect(allowed.status).toBe(303);
    const again = await authorize(browser, client, { scope: 'books:write' });
    expect(again.response.status).toBe(302);
    expect(new URL(again.response.headers.get('Location')!).searchParams.get('code')).toBeTruthy();
  });

  it('shows the page anyway with prompt=consent', async () => {
    const client = await registerClient(ownerToken);
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const { response } = await authorize(browser, client, { prompt: 'consent' });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('>Allow</button>');
  });

  it('answers prompt=none with a code once consented, and consent_required before', async () => {
    const client = await registerClient(ownerToken);
    const before = await authorize(browser, client, { prompt: 'none' });
    expect(before.response.status).toBe(302);
    const refused = new URL(before.response.headers.get('Location')!);
    expect(refused.searchParams.get('error')).toBe('consent_required');
    expect(refused.searchParams.get('state')).toBe('st-1');

    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const after = await authorize(browser, client, { prompt: 'none' });
    expect(after.response.status).toBe(302);
    const granted = new URL(after.response.headers.get('Location')!);
    expect(granted.searchParams.get('error')).toBeNull();
    expect(granted.searchParams.get('code')).toBeTruthy();
  });

  it('asks again after the app was revoked on /account', async () => {
    const client = await registerClient(ownerToken, { client_name: 'Forget Me' });
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const account = await (await browser.get('/account')).text();
    const forms = [...account.matchAll(/<form method="post" action="(\/account\/apps\/[^"]+\/revoke)">/g)];
    const revokeAction = forms.find((match) => account.indexOf(match[0]) > account.indexOf('Forget Me'))![1]!;
    expect((await browser.post(revokeAction, hiddenFields(account))).status).toBe(303);
    const { response } = await authorize(browser, client);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('>Allow</button>');
  });

  it('never remembers one user’s consent for another', async () => {
    const client = await registerClient(ownerToken);
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const stranger = await signedInBrowser(await createUser());
    const { response } = await authorize(stranger, client);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('>Allow</button>');
  });
});

describe('/account last used', () => {
  it('shows when an app was granted and when it last got a token', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), {
      client_name: 'Nightly Sync',
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const browser = await signedInBrowser(user);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    expect(await (await browser.get('/account')).text()).toContain('last used never');
    const tokens = (await (await redeem(client, authorization)).json()) as { refresh_token: string };
    const html = await (await browser.get('/account')).text();
    expect(html).toMatch(/Granted \d{4}-\d\d-\d\d \d\d:\d\d UTC; last used \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const refreshed = await form(
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    expect(refreshed.status).toBe(200);
  });
});
