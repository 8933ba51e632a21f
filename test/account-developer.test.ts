import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import {
  authorizeWithConsent,
  type Browser,
  basic,
  bearer,
  call,
  createUser,
  expectErrorPage,
  expectJsonError,
  form,
  ISSUER,
  type RegisteredClient,
  redeem,
  signedInBrowser,
  storedHash,
  type TestUser,
} from './helpers';

// The developer section of /account (issue 15 item 6): register an app,
// change its name and redirect URIs, rotate its secret, delete it, with the
// same rules as the JSON API, CSRF and owner checks on every form.

const TOKEN = '/oauth2/token';

/** The CSRF token a page's forms carry (one per browser: the double-submit cookie's value). */
function csrfOf(html: string): string {
  const token = /<input type="hidden" name="csrf_token" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF field on the page');
  return token;
}

/** A labelled read-only value on a result page (client id, secret). */
function shown(html: string, id: string): string | undefined {
  return new RegExp(`<input id="${id}" type="text" readonly="" value="([^"]*)"`).exec(html)?.[1];
}

/** The page's alert: what the form says is wrong. */
function alertOf(html: string): string {
  return /role="alert">([^<]*)</.exec(html)?.[1] ?? '(no alert)';
}

async function accountCsrf(browser: Browser): Promise<string> {
  const page = await browser.get('/account');
  expect(page.status).toBe(200);
  return csrfOf(await page.text());
}

/** Posts a form with repeated fields (ticked boxes), as a browser does. */
function postFields(browser: Browser, path: string, fields: [string, string][], headers: Record<string, string> = {}) {
  return browser.fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

interface AppForm {
  name?: string;
  redirectUris?: string;
  type?: string;
  grants?: string[];
  scopes?: string[];
}

async function submitRegister(browser: Browser, app: AppForm, csrf?: string) {
  const fields: [string, string][] = [
    ['csrf_token', csrf ?? (await accountCsrf(browser))],
    ['client_name', app.name ?? 'Nightly Sync'],
    ['redirect_uris', app.redirectUris ?? ''],
    ...(app.type === undefined
      ? ([['client_type', 'confidential']] as [string, string][])
      : app.type
        ? [['client_type', app.type] as [string, string]]
        : []),
    ...(app.grants ?? ['client_credentials']).map((grant): [string, string] => ['grant_type', grant]),
    ...(app.scopes ?? ['books:read']).map((scope): [string, string] => ['scope', scope]),
  ];
  return postFields(browser, '/account/clients', fields);
}

/** Registers through the form and reads the credentials off the page that shows them once. */
async function registerOnAccount(browser: Browser, app: AppForm = {}): Promise<RegisteredClient> {
  const response = await submitRegister(browser, app);
  const html = await response.text();
  expect(response.status, html.slice(0, 2000)).toBe(201);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const clientId = shown(html, 'client_id');
  expect(clientId).toBeTruthy();
  const secret = shown(html, 'client_secret');
  return {
    client_id: clientId!,
    ...(secret ? { client_secret: secret } : {}),
    redirect_uris: (app.redirectUris ?? '').split(/\r?\n/).filter(Boolean),
    token_endpoint_auth_method: secret ? 'client_secret_basic' : 'none',
  };
}

function clientCredentials(clientId: string, secret: string) {
  return form(TOKEN, { grant_type: 'client_credentials', scope: 'books:read' }, { Authorization: basic(clientId, secret) });
}

async function clientsOf(user: TestUser) {
  const { results } = await env.DB.prepare('select id, name, redirect_uris, secret_hash from clients where owner_id = ?')
    .bind(user.id)
    .all<{ id: string; name: string; redirect_uris: string; secret_hash: string | null }>();
  return results;
}

async function auditTypes(user: TestUser): Promise<string[]> {
  const { results } = await env.DB.prepare('select type from audit_events where user_id = ? order by id')
    .bind(user.id)
    .all<{ type: string }>();
  return results.map((row) => row.type);
}

describe('/account: Register an app', () => {
  it('shows the form with labelled fields', async () => {
    const browser = await signedInBrowser(await createUser());
    const html = await (await browser.get('/account')).text();
    expect(html).toContain('<h2>Register an app</h2>');
    expect(html).toContain('<form method="post" action="/account/clients"');
    for (const label of ['App name', 'Redirect URIs']) expect(html).toMatch(new RegExp(`<label for="[^"]+">${label}</label>`));
    expect(html).toContain('<legend>Type</legend>');
    expect(html).toContain('<legend>Allowed scopes</legend>');
    expect(html).toContain('<button type="submit">Register an app</button>');
  });

  it('registers a confidential client: the secret is shown once, kept hashed, and works at the token endpoint', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, { name: 'Nightly Sync' });
    expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [row] = await clientsOf(user);
    expect(row?.id).toBe(client.client_id);
    expect(row?.secret_hash).toBe(await storedHash(client.client_secret!));
    // The same registration as the API's: client_credentials gets a token for the allowed scope.
    const tokens = await clientCredentials(client.client_id, client.client_secret!);
    expect(tokens.status, await tokens.clone().text()).toBe(200);
    // Listed on /account with a link to manage it, never with its secret.
    const account = await (await browser.get('/account')).text();
    expect(account).toContain('Nightly Sync');
    expect(account).toContain(`href="/account/clients/${client.client_id}"`);
    expect(account).not.toContain(client.client_secret);
    expect(await auditTypes(user)).toContain('client_created');
  });

  it('registers a public client for the code flow: no secret, and the code flow works', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, {
      type: 'public',
      redirectUris: 'https://spa.example/callback\r\nhttp://127.0.0.1:9000/cb\n',
      grants: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'books:read', 'offline_access'],
    });
    expect(client.client_secret).toBeUndefined();
    const [row] = await clientsOf(user);
    expect(JSON.parse(row!.redirect_uris)).toEqual(['https://spa.example/callback', 'http://127.0.0.1:9000/cb']);
    expect(row!.secret_hash).toBeNull();
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    expect((await redeem(client, authorization)).status).toBe(200);
  });

  it.each([
    ['a redirect URI with a fragment', { redirectUris: 'https://app.example/cb#x', grants: ['authorization_code'] }, /redirect URI/i],
    ['the code grant without a redirect URI', { grants: ['authorization_code'] }, /redirect_uris is required/],
    ['a public client for client_credentials', { type: 'public' }, /client_credentials needs a confidential client/],
    ['no type', { type: '' }, /client_type/],
    ['an unknown scope', { scopes: ['admin'] }, /scope/],
    ['an unknown grant', { grants: ['password'] }, /grant_type/],
    ['no grant at all', { grants: [] }, /grant_types/],
    ['an empty name', { name: '   ' }, /client_name/],
  ])('refuses %s: the form again with what is wrong, 400, nothing stored', async (_, app, message) => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const response = await submitRegister(browser, { name: 'Kept Name', ...app });
    const html = await expectErrorPage(response, 400);
    expect(alertOf(html)).toMatch(message);
    // The form again, filled in with what was typed.
    expect(html).toContain('<form method="post" action="/account/clients"');
    if (!('name' in app)) expect(html).toContain('value="Kept Name"');
    expect(await clientsOf(user)).toHaveLength(0);
  });

  it('is refused without the CSRF token, or with another browser’s, and from another origin', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const other = await signedInBrowser(await createUser());
    await expectErrorPage(await submitRegister(browser, {}, 'not-the-token'), 403);
    await expectErrorPage(await submitRegister(browser, {}, await accountCsrf(other)), 403);
    const csrf = await accountCsrf(browser);
    const crossSite = await postFields(
      browser,
      '/account/clients',
      [
        ['csrf_token', csrf],
        ['client_name', 'X'],
        ['client_type', 'confidential'],
        ['grant_type', 'client_credentials'],
      ],
      {
        Origin: 'https://evil.example',
      },
    );
    await expectErrorPage(crossSite, 403);
    expect(await clientsOf(user)).toHaveLength(0);
  });

  it('sends a signed-out browser to sign in, storing nothing', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const csrf = await accountCsrf(browser);
    browser.cookies.delete('tg_session');
    const response = await submitRegister(browser, {}, csrf);
    expect(response.status).toBe(303);
    expect(response.headers.get('Location')).toBe('/login?return_to=%2Faccount');
    expect(await clientsOf(user)).toHaveLength(0);
  });

  it('counts against the per-user registration limit (2 a minute in this test): 429, the form again', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const csrf = await accountCsrf(browser);
    const tightEnv = { ...env, REGISTRATION_LIMITER: env.TIGHT_LIMITER };
    const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const register = () =>
      app.request(
        `${ISSUER}/account/clients`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
          body: new URLSearchParams([
            ['csrf_token', csrf],
            ['client_name', 'Limited'],
            ['client_type', 'confidential'],
            ['grant_type', 'client_credentials'],
          ]).toString(),
        },
        tightEnv,
      );
    for (let i = 0; i < 2; i++) {
      const response = await register();
      expect(response.status, alertOf(await response.text())).toBe(201);
    }
    const third = await register();
    const html = await expectErrorPage(third, 429);
    expect(third.headers.get('Retry-After')).toBe('60');
    expect(html).toContain('Too many registrations');
    expect(await clientsOf(user)).toHaveLength(2);
  });
});

describe('/account/clients/:id: rotate the secret', () => {
  it('replaces the secret: the old one is refused at once (401 invalid_client), the new one works, audited', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser);
    const manage = await browser.get(`/account/clients/${client.client_id}`);
    expect(manage.status).toBe(200);
    const manageHtml = await manage.text();
    expect(manageHtml).toContain('>Rotate secret</button>');
    const rotated = await browser.post(`/account/clients/${client.client_id}/rotate-secret`, { csrf_token: csrfOf(manageHtml) });
    const html = await rotated.text();
    expect(rotated.status, html.slice(0, 1000)).toBe(200);
    expect(rotated.headers.get('Cache-Control')).toBe('no-store');
    const secret = shown(html, 'client_secret');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(secret).not.toBe(client.client_secret);

    await expectJsonError(await clientCredentials(client.client_id, client.client_secret!), 401, 'invalid_client');
    expect((await clientCredentials(client.client_id, secret!)).status).toBe(200);
    const [row] = await clientsOf(user);
    expect(row?.secret_hash).toBe(await storedHash(secret!));
    expect(await auditTypes(user)).toContain('client_secret_rotated');
    expect(await (await browser.get('/account')).text()).toContain('Gave Nightly Sync a new client secret');
  });

  it('has no secret to rotate for a public client (404, nothing changes)', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, {
      type: 'public',
      redirectUris: 'https://spa.example/cb',
      grants: ['authorization_code'],
    });
    const manageHtml = await (await browser.get(`/account/clients/${client.client_id}`)).text();
    expect(manageHtml).not.toContain('Rotate secret');
    await expectErrorPage(
      await browser.post(`/account/clients/${client.client_id}/rotate-secret`, { csrf_token: csrfOf(manageHtml) }),
      404,
    );
    expect((await clientsOf(user))[0]?.secret_hash).toBeNull();
  });
});

describe('/account/clients/:id: change the name and redirect URIs', () => {
  it('saves them, and a code pending for a removed redirect URI no longer redeems', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, {
      name: 'Old Name',
      redirectUris: 'https://app.example/old\nhttps://app.example/kept',
      grants: ['authorization_code'],
      scopes: [],
    });
    const pendingOld = await authorizeWithConsent(browser, client, { redirectUri: 'https://app.example/old' });
    const pendingKept = await authorizeWithConsent(browser, client, { redirectUri: 'https://app.example/kept' });
    const manageHtml = await (await browser.get(`/account/clients/${client.client_id}`)).text();
    expect(manageHtml).toContain('value="Old Name"');
    const saved = await browser.post(`/account/clients/${client.client_id}`, {
      csrf_token: csrfOf(manageHtml),
      client_name: 'New Name',
      redirect_uris: 'https://app.example/kept\nhttps://app.example/new',
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('Location')).toBe(`/account/clients/${client.client_id}`);
    const [row] = await clientsOf(user);
    expect(row?.name).toBe('New Name');
    expect(JSON.parse(row!.redirect_uris)).toEqual(['https://app.example/kept', 'https://app.example/new']);
    await expectJsonError(await redeem(client, pendingOld), 400, 'invalid_grant');
    expect((await redeem(client, pendingKept)).status).toBe(200);
    expect(await auditTypes(user)).toContain('client_updated');
    expect(await (await browser.get('/account')).text()).toContain('New Name');
  });

  it.each([
    ['a bad redirect URI', { client_name: 'X', redirect_uris: 'javascript:alert(1)' }, /redirect URI/i],
    ['no redirect URI for a code-flow client', { client_name: 'X', redirect_uris: '' }, /redirect_uris is required/],
    ['an empty name', { client_name: '', redirect_uris: 'https://app.example/cb' }, /client_name/],
  ])('refuses %s: the form again, 400, nothing changed', async (_, fields, message) => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, {
      name: 'Steady',
      redirectUris: 'https://app.example/cb',
      grants: ['authorization_code'],
    });
    const manageHtml = await (await browser.get(`/account/clients/${client.client_id}`)).text();
    const response = await browser.post(`/account/clients/${client.client_id}`, { csrf_token: csrfOf(manageHtml), ...fields });
    const html = await expectErrorPage(response, 400);
    expect(alertOf(html)).toMatch(message);
    expect(html).toContain(`action="/account/clients/${client.client_id}"`);
    const [row] = await clientsOf(user);
    expect(row?.name).toBe('Steady');
    expect(JSON.parse(row!.redirect_uris)).toEqual(['https://app.example/cb']);
  });
});

describe('/account/clients/:id: delete', () => {
  it('deletes the client and everything issued to it, like DELETE /api/clients/:id', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const client = await registerOnAccount(browser, {
      redirectUris: 'https://app.example/cb',
      grants: ['authorization_code'],
      scopes: ['books:read'],
    });
    const tokens = (await (await redeem(client, await authorizeWithConsent(browser, client, { scope: 'books:read' }))).json()) as {
      access_token: string;
    };
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);
    const manageHtml = await (await browser.get(`/account/clients/${client.client_id}`)).text();
    const deleted = await browser.post(`/account/clients/${client.client_id}/delete`, { csrf_token: csrfOf(manageHtml) });
    expect(deleted.status).toBe(303);
    expect(deleted.headers.get('Location')).toBe('/account');
    expect(await clientsOf(user)).toHaveLength(0);
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(401);
    await expectJsonError(await clientCredentials(client.client_id, client.client_secret!), 401, 'invalid_client');
    expect(await auditTypes(user)).toContain('client_deleted');
  });
});

describe('/account/clients/:id: only the owner', () => {
  it('another user sees 404 on every form and changes nothing', async () => {
    const owner = await createUser();
    const ownerBrowser = await signedInBrowser(owner);
    const client = await registerOnAccount(ownerBrowser, { name: 'Mine' });
    const stranger = await signedInBrowser(await createUser());
    const csrf = await accountCsrf(stranger);
    const base = `/account/clients/${client.client_id}`;
    await expectErrorPage(await stranger.get(base), 404);
    await expectErrorPage(await stranger.post(base, { csrf_token: csrf, client_name: 'Taken', redirect_uris: '' }), 404);
    await expectErrorPage(await stranger.post(`${base}/rotate-secret`, { csrf_token: csrf }), 404);
    await expectErrorPage(await stranger.post(`${base}/delete`, { csrf_token: csrf }), 404);
    const [row] = await clientsOf(owner);
    expect(row?.name).toBe('Mine');
    expect(row?.secret_hash).toBe(await storedHash(client.client_secret!));
    expect((await clientCredentials(client.client_id, client.client_secret!)).status).toBe(200);
  });

  it('an unknown or malformed client id is the same 404', async () => {
    const browser = await signedInBrowser(await createUser());
    await expectErrorPage(await browser.get('/account/clients/no-such-client'), 404);
    await expectErrorPage(await browser.get(`/account/clients/${'x'.repeat(5000)}`), 404);
  });

  it('a signed-out browser is sent to sign in', async () => {
    const response = await call('/account/clients/anything');
    expect(response.status).toBe(302);
    expect(response.headers.get('Location')).toBe('/login?return_to=%2Faccount');
  });
});
