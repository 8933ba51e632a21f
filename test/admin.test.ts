import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN_PAGE_SIZE } from '../src/config';
import schemaSource from '../src/storage/schema.ts?raw';
import { adminAction, auditEventsOf, makeAdmin, signedInAdmin, userRow } from './admin-support';
import { documentClient } from './client-metadata-support';
import {
  authorizeWithConsent,
  awaitMail,
  Browser,
  bearer,
  call,
  createUser,
  expectLabelledField,
  form,
  hiddenFields,
  issueTokens,
  json,
  mailedLink,
  postAsClient,
  REDIRECT_URI,
  refreshAs,
  registerClient,
  revokeAs,
  signedInBrowser,
  unique,
  userToken,
} from './helpers';
import { enterPassword, turnOnTwoFactor } from './totp-support';

/** A user with an app that holds an access token and a refresh token for them, and their API token. */
async function userWithTokens() {
  const user = await createUser();
  const owner = await createUser();
  const client = await registerClient(await userToken(owner), { grant_types: ['authorization_code', 'refresh_token'] });
  const browser = await signedInBrowser(user);
  const tokens = await issueTokens(browser, client, { scope: 'openid books:read offline_access' });
  return { user, client, browser, tokens, apiToken: await userToken(user) };
}

describe('admin pages', () => {
  it('the dashboard, the users list with its Search field, a user page, the clients list and the audit log', async () => {
    const { browser } = await signedInAdmin();
    const dashboard = await browser.get('/admin');
    expect(dashboard.status).toBe(200);
    const html = await dashboard.text();
    expect(html).toContain('<script src="/static/admin/uPlot.iife.min.js" defer="">');
    expect(html).toContain('data-dashboard=');
    expect(html).not.toMatch(/<script>(?!<)/);

    const target = await createUser({ name: 'Searchable Person' });
    const users = await browser.get(`/admin/users?q=${encodeURIComponent('searchable')}`);
    expect(users.status).toBe(200);
    const list = await users.text();
    expectLabelledField(list, 'Search');
    expect(list).toContain(target.email);
    expect(list).toContain('>Disable</button>');

    const byEmail = await (await browser.get(`/admin/users?q=${encodeURIComponent(target.email.toUpperCase())}`)).text();
    expect(byEmail).toContain(target.email);
    const none = await (await browser.get('/admin/users?q=%25%25nobody_like_this')).text();
    expect(none).toContain('No users found.');

    const page = await browser.get(`/admin/users/${target.id}`);
    expect(page.status).toBe(200);
    const userHtml = await page.text();
    expect(userHtml).toContain('Searchable Person');
    expect(userHtml).toContain('Sign out everywhere');
    expect(userHtml).toContain('Require a password reset');

    expect((await browser.get('/admin/clients')).status).toBe(200);
    expect((await browser.get('/admin/audit')).status).toBe(200);
    expect((await browser.get('/admin/users/no-such-user')).status).toBe(404);
  });

  it('refuses bad list input with a 400 page, not a 500', async () => {
    const { browser } = await signedInAdmin();
    for (const path of [
      '/admin/users?page=0',
      '/admin/users?page=abc',
      '/admin/users?page=999999',
      `/admin/users?q=${'x'.repeat(300)}`,
      '/admin/audit?type=nope',
      '/admin/audit?from=yesterday',
    ]) {
      const response = await browser.get(path);
      expect(response.status, path).toBe(400);
      expect(response.headers.get('Content-Type')).toContain('text/html');
    }
  });
});

/** The part of an admin page under its heading `title`, up to the next heading. */
function section(html: string, title: string): string {
  const start = html.indexOf(`<h2>${title}</h2>`);
  expect(start, title).toBeGreaterThanOrEqual(0);
  const end = html.indexOf('<h2>', start + 1);
  return html.slice(start, end === -1 ? undefined : end);
}

describe('admin lists', () => {
  it('users, clients and the audit log come in pages of ADMIN_PAGE_SIZE: page 2 holds the rest, and has_next and the pager say so', async () => {
    const { admin, browser } = await signedInAdmin();
    const token = await userToken(admin);
    const tag = unique('pager');
    const now = Math.floor(Date.now() / 1000);
    const count = ADMIN_PAGE_SIZE + 1;
    const subject = await createUser();
    // Rows written directly: a page's worth and one more of each, all matching one search.
    await env.DB.batch(
      Array.from({ length: count }, (_, i) => [
        env.DB.prepare('insert into users (id, email, name, password_hash, created_at) values (?, ?, ?, ?, ?)').bind(
          `${tag}-user-${i}`,
          `${tag}-${i}@example.com`,
          `Pager ${i}`,
          'not a hash',
          now - i,
        ),
        env.DB.prepare(
          `insert into clients (id, name, token_endpoint_auth_method, redirect_uris, grant_types, created_at) values (?, ?, 'none', '[]', '["authorization_code"]', ?)`,
        ).bind(`${tag}-client-${i}`, `${tag} app ${i}`, now - i),
        env.DB.prepare(`insert into audit_events (at, type, user_id) values (?, 'sign_in', ?)`).bind(now - i, subject.id),
      ]).flat(),
    );
    // The oldest event is the last one written.
    const oldestEvent = await env.DB.prepare('select max(id) as id from audit_events where user_id = ?')
      .bind(subject.id)
      .first<{ id: number }>();
    const lists = [
      {
        page: '/admin/users',
        api: '/api/admin/users',
        query: `q=${tag}`,
        rows: 'users',
        oldest: `${tag}-user-${ADMIN_PAGE_SIZE}`,
        dropOne: `delete from users where id = '${tag}-user-0'`,
      },
      {
        page: '/admin/clients',
        api: '/api/admin/clients',
        query: `q=${tag}`,
        rows: 'clients',
        oldest: `${tag}-client-${ADMIN_PAGE_SIZE}`,
        dropOne: `delete from clients where id = '${tag}-client-0'`,
      },
      {
        page: '/admin/audit',
        api: '/api/admin/audit',
        query: `user=${subject.id}&type=sign_in`,
        rows: 'events',
        oldest: oldestEvent?.id,
        dropOne: `delete from audit_events where id = ${oldestEvent?.id}`,
      },
    ];
    for (const list of lists) {
      const read = async (page: number) => {
        const response = await call(`${list.api}?${list.query}&page=${page}`, { headers: bearer(token) });
        expect(response.status, list.api).toBe(200);
        const body = (await response.json()) as Record<string, unknown> & { has_next: boolean; page: number };
        return { ids: (body[list.rows] as { id: string | number }[]).map((row) => row.id), hasNext: body.has_next, page: body.page };
      };
      const first = await read(1);
      const second = await read(2);
      expect([first.ids.length, first.hasNext, first.page], list.api).toEqual([ADMIN_PAGE_SIZE, true, 1]);
      // Newest first: page 2 holds the oldest row.
      expect([second.ids, second.hasNext, second.page], list.api).toEqual([[list.oldest], false, 2]);
      expect(new Set([...first.ids, ...second.ids]).size, list.api).toBe(count);
      expect((await read(3)).ids, list.api).toEqual([]);

      const next = `href="${list.page}?${list.query.replace('&', '&amp;')}&amp;page=2">Next page</a>`;
      const pageOne = await (await browser.get(`${list.page}?${list.query}`)).text();
      expect(pageOne, list.page).toContain(next);
      expect(pageOne, list.page).not.toContain('Previous page');
      const pageTwo = await (await browser.get(`${list.page}?${list.query}&page=2`)).text();
      expect(pageTwo, list.page).toContain(`href="${list.page}?${list.query.replace('&', '&amp;')}&amp;page=1">Previous page</a>`);
      expect(pageTwo, list.page).not.toContain('Next page');

      // Exactly a page's worth: one page, and no next one.
      await env.DB.prepare(list.dropOne).run();
      expect(await read(1), list.api).toMatchObject({ hasNext: false, page: 1 });
      expect((await read(1)).ids, list.api).toHaveLength(ADMIN_PAGE_SIZE);
      expect(await (await browser.get(`${list.page}?${list.query}`)).text(), list.page).not.toContain('Next page');
    }
  });

  it("the audit log's time range: from is inclusive, to exclusive, on the page, in the API and the CSV", async () => {
    const { admin, browser } = await signedInAdmin();
    const token = await userToken(admin);
    const user = await createUser();
    // Three events a second apart around a whole minute an hour ago.
    const edge = Math.floor(Date.now() / 1000 / 60) * 60 - 3600;
    for (const [at, ip] of [
      [edge - 1, '203.0.113.1'],
      [edge, '203.0.113.2'],
      [edge + 1, '203.0.113.3'],
    ] as const) {
      await env.DB.prepare(`insert into audit_events (at, type, user_id, ip) values (?, 'sign_in', ?, ?)`).bind(at, user.id, ip).run();
    }
    const minute = new Date(edge * 1000).toISOString().slice(0, 16);
    const ips = async (range: string) => {
      const response = await call(`/api/admin/audit?user=${user.id}&type=sign_in&${range}`, { headers: bearer(token) });
      return ((await response.json()) as { events: { ip: string }[] }).events.map((event) => event.ip);
    };
    expect(await ips(`to=${minute}`)).toEqual(['203.0.113.1']);
    expect(await ips(`from=${minute}`)).toEqual(['203.0.113.3', '203.0.113.2']);
    expect(await ips(`from=${minute}&to=${minute}`)).toEqual([]);
    const page = await (await browser.get(`/admin/audit?user=${user.id}&to=${minute}`)).text();
    expect(page).toContain('203.0.113.1');
    expect(page).not.toContain('203.0.113.2');
    const csv = await (await browser.get(`/admin/audit.csv?user=${user.id}&to=${minute}`)).text();
    expect(csv.trim().split('\r\n')).toHaveLength(2);
    expect(csv).toContain('"203.0.113.1"');
  });

  it('anonymous (open registration) and client ID metadata document clients are listed with their kind and no owner', async () => {
    const { browser } = await signedInAdmin();
    const registered = await json('/oauth2/register', {
      client_name: 'Nobody Owns Me',
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
    });
    expect(registered.status).toBe(201);
    const anonymous = (await registered.json()) as { client_id: string };
    const document = documentClient();
    await authorizeWithConsent(await signedInBrowser(await createUser()), document, { scope: 'openid' });

    for (const [id, kind] of [
      [anonymous.client_id, 'anonymous'],
      [document.client_id, 'metadata document'],
    ] as const) {
      const list = await (await browser.get(`/admin/clients?q=${encodeURIComponent(id)}`)).text();
      const row = /<tbody>(.*?)<\/tbody>/s.exec(list)?.[1] ?? '';
      expect(row, id).toContain(`href="/admin/clients/${encodeURIComponent(id)}"`);
      expect(row, id).toContain(`<td>${kind}</td><td>—</td>`);
      const page = await (await browser.get(`/admin/clients/${encodeURIComponent(id)}`)).text();
      expect(page, id).toContain(`<dt>Kind</dt><dd>${kind}</dd><dt>Owner</dt><dd>Nobody</dd>`);
    }
  });

  it("a user's page shows their apps, live sessions and recent activity; a client's page its grants and recent activity", async () => {
    const { browser } = await signedInAdmin();
    const { user, client, tokens } = await userWithTokens();
    const other = await registerClient(await userToken(await createUser()), { client_name: 'Other App' });
    await revokeAs(client, tokens.refresh_token as string);
    const again = await issueTokens(await signedInBrowser(user), client, { scope: 'openid books:read' });
    expect(again.access_token).toBeTruthy();
    await issueTokens(await signedInBrowser(user), other, { scope: 'openid' });

    const userPage = await (await browser.get(`/admin/users/${user.id}`)).text();
    const apps = section(userPage, 'Apps');
    expect(apps).toContain(`<a href="/admin/clients/${client.client_id}">Reading List</a>`);
    expect(apps).toContain('openid books:read');
    expect(apps).toContain(`<a href="/admin/clients/${other.client_id}">Other App</a>`);
    // Three browsers signed in (userWithTokens and two here), by password.
    expect(section(userPage, 'Sessions').match(/<li>/g)).toHaveLength(3);
    expect(section(userPage, 'Sessions')).toContain('(pwd)');
    const activity = section(userPage, 'Recent activity');
    for (const event of ['sign_in', 'consent_granted · Reading List', 'grant_revoked · Reading List', 'consent_granted · Other App']) {
      expect(activity, event).toContain(`<span>${event}</span>`);
    }

    const clientPage = await (await browser.get(`/admin/clients/${client.client_id}`)).text();
    const grants = section(clientPage, 'Grants');
    expect(grants).toContain(`<a href="/admin/users/${user.id}">${user.email}</a>`);
    expect(grants).toContain('openid books:read');
    expect(grants).not.toContain('Other App');
    const clientActivity = section(clientPage, 'Recent activity');
    for (const event of ['client_created', 'consent_granted', 'grant_revoked'])
      expect(clientActivity, event).toContain(`<td>${event}</td>`);
    expect(clientActivity).toContain(`>${user.email}</a>`);
    expect(clientActivity).not.toContain(other.client_id);
  });
});

describe('disabling a user', () => {
  it('ends their sessions and tokens, refuses their sign-in, and enabling lets them sign in again', async () => {
    const { admin, browser } = await signedInAdmin();
    const { user, client, browser: theirs, tokens, apiToken } = await userWithTokens();
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);

    const disabled = await adminAction(browser, `/admin/users/${user.id}/disable`, { return_to: '/admin/users' });
    expect(disabled.status).toBe(303);
    expect(disabled.headers.get('Location')).toBe('/admin/users');
    expect((await userRow(user.id))?.disabled_at).not.toBeNull();

    // Their access token, refresh token, user API token and browser session all stop.
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(401);
    expect((await call('/oauth2/userinfo', { headers: bearer(tokens.access_token) })).status).toBe(401);
    const refreshed = await refreshAs(client, tokens.refresh_token as string);
    expect(refreshed.status).toBe(400);
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_grant');
    expect((await call('/api/clients', { headers: bearer(apiToken) })).status).toBe(401);
    const account = await theirs.get('/account');
    expect(account.status).toBe(302);

    // Their right password no longer signs them in, on the page or the API.
    const page = await new Browser().submit('/login', { email: user.email, password: user.password });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('This account is disabled');
    const api = await json('/api/login', { email: user.email, password: user.password });
    expect(api.status).toBe(403);
    expect(((await api.json()) as { error: string }).error).toBe('access_denied');
    // A wrong password still says only that it is wrong.
    expect((await json('/api/login', { email: user.email, password: 'wrong password here' })).status).toBe(401);

    const [event] = await auditEventsOf('user_disabled', { userId: user.id });
    expect(event?.actor_id).toBe(admin.id);
    expect(await auditEventsOf('sign_in_refused', { userId: user.id })).toHaveLength(2);

    // Disabling again changes nothing and audits nothing.
    expect((await adminAction(browser, `/admin/users/${user.id}/disable`)).status).toBe(303);
    expect(await auditEventsOf('user_disabled', { userId: user.id })).toHaveLength(1);

    const enabled = await adminAction(browser, `/admin/users/${user.id}/enable`);
    expect(enabled.status).toBe(303);
    expect(enabled.headers.get('Location')).toBe(`/admin/users/${user.id}`);
    expect((await userRow(user.id))?.disabled_at).toBeNull();
    await signedInBrowser(user);
    expect((await auditEventsOf('user_enabled', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
    // The old refresh token stays ended; the old access token's grant stands again (it expires on its own).
    expect((await refreshAs(client, tokens.refresh_token as string)).status).toBe(400);
  });

  it('sign out everywhere ends sessions and user API tokens but keeps the account usable', async () => {
    const { browser } = await signedInAdmin();
    const { user, browser: theirs, apiToken } = await userWithTokens();
    expect((await adminAction(browser, `/admin/users/${user.id}/sign-out`)).status).toBe(303);
    expect((await theirs.get('/account')).status).toBe(302);
    expect((await call('/api/clients', { headers: bearer(apiToken) })).status).toBe(401);
    await signedInBrowser(user);
    expect(await auditEventsOf('user_signed_out', { userId: user.id })).toHaveLength(1);
  });

  it('require a password reset: signed out, and the password signs them in no more', async () => {
    const { browser } = await signedInAdmin();
    const { user, browser: theirs } = await userWithTokens();
    expect((await adminAction(browser, `/admin/users/${user.id}/require-password-reset`)).status).toBe(303);
    expect((await theirs.get('/account')).status).toBe(302);
    const page = await new Browser().submit('/login', { email: user.email, password: user.password });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('choose a new password');
    expect(await auditEventsOf('password_reset_required', { userId: user.id })).toHaveLength(1);
    // Asked twice: one requirement, one event.
    expect((await adminAction(browser, `/admin/users/${user.id}/require-password-reset`)).status).toBe(303);
    expect(await auditEventsOf('password_reset_required', { userId: user.id })).toHaveLength(1);
  });

  it('an unknown user is a 404 page, and nothing is written', async () => {
    const { browser } = await signedInAdmin();
    const before = await env.DB.prepare('select count(*) as n from audit_events').first<{ n: number }>();
    for (const action of ['disable', 'enable', 'sign-out', 'require-password-reset', 'role/admin']) {
      expect((await adminAction(browser, `/admin/users/nobody/${action}`)).status, action).toBe(404);
    }
    const after = await env.DB.prepare('select count(*) as n from audit_events').first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});

describe('roles', () => {
  it('an admin makes another admin and takes the role away, audited', async () => {
    const { admin, browser } = await signedInAdmin();
    const user = await createUser();
    expect((await adminAction(browser, `/admin/users/${user.id}/role/admin`)).status).toBe(303);
    expect((await userRow(user.id))?.role).toBe('admin');
    expect((await signedInBrowser(user).then((b) => b.get('/admin'))).status).toBe(200);
    expect((await adminAction(browser, `/admin/users/${user.id}/role/user`)).status).toBe(303);
    expect((await userRow(user.id))?.role).toBe('user');
    expect((await auditEventsOf('admin_granted', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
    expect((await auditEventsOf('admin_revoked', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
  });
});

describe('clients', () => {
  it('a disabled client authenticates nowhere and its tokens stop; enabled, it works again', async () => {
    const { admin, browser } = await signedInAdmin();
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), { grant_types: ['client_credentials'], scope: 'books:read' });
    const issue = () => postAsClient('/oauth2/token', client, { grant_type: 'client_credentials', scope: 'books:read' });
    expect((await issue()).status).toBe(200);

    const list = await (await browser.get(`/admin/clients?q=${encodeURIComponent(client.client_id)}`)).text();
    expect(list).toContain('Reading List');
    expect((await adminAction(browser, `/admin/clients/${client.client_id}/disable`)).status).toBe(303);
    const refused = await issue();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_client');
    expect((await browser.get(`/admin/clients/${client.client_id}`)).status).toBe(200);
    expect((await auditEventsOf('client_disabled', { clientId: client.client_id }))[0]?.actor_id).toBe(admin.id);

    expect((await adminAction(browser, `/admin/clients/${client.client_id}/enable`)).status).toBe(303);
    expect((await issue()).status).toBe(200);
  });

  it("a disabled client's access tokens stop, it cannot refresh nor start a flow; enabled, its tokens stand again", async () => {
    const { browser } = await signedInAdmin();
    const { client, tokens } = await userWithTokens();
    expect((await adminAction(browser, `/admin/clients/${client.client_id}/disable`)).status).toBe(303);
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(401);
    const refreshed = await refreshAs(client, tokens.refresh_token as string);
    expect(refreshed.status).toBe(401);
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_client');
    const authorize = await browser.get(
      `/oauth2/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(client.redirect_uris[0]!)}`,
    );
    expect(authorize.status).toBe(400);
    expect((await adminAction(browser, `/admin/clients/${client.client_id}/enable`)).status).toBe(303);
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);
    expect((await refreshAs(client, tokens.refresh_token as string)).status).toBe(200);
  });

  it('delete removes the client and what was issued to it', async () => {
    const { browser } = await signedInAdmin();
    const { client, tokens } = await userWithTokens();
    const deleted = await adminAction(browser, `/admin/clients/${client.client_id}/delete`);
    expect(deleted.status).toBe(303);
    expect(deleted.headers.get('Location')).toBe('/admin/clients');
    const grants = await env.DB.prepare('select count(*) as n from grants where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(grants?.n).toBe(0);
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(401);
    expect((await browser.get(`/admin/clients/${client.client_id}`)).status).toBe(404);
    expect(await auditEventsOf('client_deleted', { clientId: client.client_id })).toHaveLength(1);
  });
});

describe('audit log', () => {
  it('filters by user, client, type and time, and exports CSV with formula cells defused', async () => {
    const { browser } = await signedInAdmin();
    const hostile = await createUser({ name: '=HYPERLINK("http://evil.example")' });
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), { client_name: '@SUM(1+1)' });
    await signedInBrowser(hostile);

    const byUser = await (await browser.get(`/admin/audit?user=${encodeURIComponent(hostile.email)}&type=sign_in`)).text();
    expect(byUser).toContain('sign_in');
    expect(byUser).toContain(hostile.email);
    const byClient = await (await browser.get(`/admin/audit?client=${encodeURIComponent(client.client_id)}`)).text();
    expect(byClient).toContain('client_created');
    const future = await (await browser.get('/admin/audit?type=sign_in&from=2999-01-01')).text();
    expect(future).toContain('No events.');

    const csv = await browser.get(`/admin/audit.csv?client=${encodeURIComponent(client.client_id)}`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('Content-Type')).toContain('text/csv');
    const text = await csv.text();
    expect(text.split('\r\n')[0]).toBe('"time","type","user_id","user_email","client_id","client_name","ip","actor_id","actor_email"');
    expect(text).toContain(`"'@SUM(1+1)"`);
    expect(text).not.toMatch(/(^|,)"[=+\-@]/m);
  });
});

describe('audit event types', () => {
  /** Every type of schema.ts's AuditEventType union, read from its source: what the audit log can hold. */
  function schemaEventTypes(): string[] {
    const union = /export type AuditEventType =([^;]*);/.exec(schemaSource)?.[1] ?? '';
    return [...union.matchAll(/'([a-z_]+)'/g)].map((match) => match[1]!);
  }

  it('every type the schema defines is in the menu and filterable on the page, in the CSV and by the API', async () => {
    const types = schemaEventTypes();
    expect(types).toContain('identity_linked');
    expect(types).toContain('identity_unlinked');
    expect(types.length).toBeGreaterThan(30);
    const { admin, browser } = await signedInAdmin();
    const token = await userToken(admin);
    const user = await createUser();
    for (const type of ['identity_linked', 'identity_unlinked']) {
      await env.DB.prepare('insert into audit_events (at, type, user_id, ip) values (?, ?, ?, ?)')
        .bind(Math.floor(Date.now() / 1000), type, user.id, '203.0.113.9')
        .run();
    }

    const menu = await (await browser.get('/admin/audit')).text();
    for (const type of types) {
      const query = `?type=${type}&user=${user.id}`;
      expect(menu, type).toContain(`<option value="${type}"`);
      const page = await browser.get(`/admin/audit${query}`);
      expect(page.status, `page ${type}`).toBe(200);
      const csv = await browser.get(`/admin/audit.csv${query}`);
      expect(csv.status, `csv ${type}`).toBe(200);
      const api = await call(`/api/admin/audit${query}`, { headers: bearer(token) });
      expect(api.status, `api ${type}`).toBe(200);
      // Only rows of that type come back; the two written here among them.
      const events = ((await api.json()) as { events: { type: string }[] }).events.map((event) => event.type);
      const rows = (await csv.text())
        .trim()
        .split('\r\n')
        .slice(1)
        .map((line) => line.split(',')[1]);
      expect(new Set(events), `api ${type}`).toEqual(new Set(events.length ? [type] : []));
      expect(new Set(rows), `csv ${type}`).toEqual(new Set(rows.length ? [`"${type}"`] : []));
      if (type.startsWith('identity_')) {
        expect(events, `api ${type}`).toEqual([type]);
        expect(rows, `csv ${type}`).toEqual([`"${type}"`]);
        expect(await page.text(), `page ${type}`).toContain('203.0.113.9');
      }
    }
  });
});

describe('admin API', () => {
  it('the same actions as JSON with an admin user API token', async () => {
    const { admin } = await signedInAdmin();
    const token = await userToken(admin);
    const user = await createUser({ name: 'Api Target' });
    const listed = await call(`/api/admin/users?q=${encodeURIComponent(user.email)}`, { headers: bearer(token) });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { users: { id: string }[]; has_next: boolean };
    expect(body.users.map((u) => u.id)).toEqual([user.id]);

    const disabled = await call(`/api/admin/users/${user.id}/disable`, { method: 'POST', headers: bearer(token) });
    expect(disabled.status).toBe(200);
    expect(await disabled.json()).toEqual({ result: 'done' });
    expect((await json('/api/login', { email: user.email, password: user.password })).status).toBe(403);
    const again = await call(`/api/admin/users/${user.id}/disable`, { method: 'POST', headers: bearer(token) });
    expect(await again.json()).toEqual({ result: 'unchanged' });
    expect((await call(`/api/admin/users/${user.id}/enable`, { method: 'POST', headers: bearer(token) })).status).toBe(200);
    await userToken(user);

    const role = await call(`/api/admin/users/${user.id}/role`, {
      method: 'PUT',
      headers: { ...bearer(token), 'Content-Type': 'application/json' },
      body: JSON.stringify({ role: 'boss' }),
    });
    expect(role.status).toBe(400);
    expect((await call(`/api/admin/users/nobody/disable`, { method: 'POST', headers: bearer(token) })).status).toBe(404);

    const dashboard = await call('/api/admin/dashboard', { headers: bearer(token) });
    expect(dashboard.status).toBe(200);
    const data = (await dashboard.json()) as { day: { times: number[] }; week: { times: number[] } };
    expect(data.day.times).toHaveLength(24);
    expect(data.week.times).toHaveLength(7);
    const audit = await call(`/api/admin/audit?user=${user.id}&type=user_disabled`, { headers: bearer(token) });
    expect(((await audit.json()) as { events: unknown[] }).events).toHaveLength(1);
  });
});

describe('last admin', () => {
  it('with another admin, one admin may disable the other', async () => {
    const { browser } = await signedInAdmin();
    const other = await createUser();
    await makeAdmin(other);
    expect((await adminAction(browser, `/admin/users/${other.id}/disable`)).status).toBe(303);
    expect((await userRow(other.id))?.disabled_at).not.toBeNull();
  });
});

describe('the sign-in form', () => {
  it('a disabled user posting the form sees why, with a 403', async () => {
    const user = await createUser();
    await env.DB.prepare('update users set disabled_at = 1 where id = ?').bind(user.id).run();
    const response = await new Browser().submit('/login', { email: user.email, password: user.password });
    expect(response.status).toBe(403);
    expect((await form('/api/login', {})).status).toBe(415);
  });
});

describe('a required password reset', () => {
  it('is lifted by setting a new password through the mailed link', async () => {
    const { browser } = await signedInAdmin();
    const user = await createUser();
    expect((await adminAction(browser, `/admin/users/${user.id}/require-password-reset`)).status).toBe(303);
    expect((await new Browser().submit('/login', { email: user.email, password: user.password })).status).toBe(403);
    const forgot = await new Browser().submit('/forgot', { email: user.email });
    expect(forgot.status).toBe(303);
    const [mail] = await awaitMail(user.email, 'Reset your password');
    const link = mailedLink(mail!, '/reset-password');
    const reset = new Browser();
    const page = await reset.get(link);
    const set = await reset.post('/reset-password', { ...hiddenFields(await page.text()), password: 'a brand new passphrase' });
    expect(set.status).toBeLessThan(400);
    expect((await new Browser().submit('/login', { email: user.email, password: 'a brand new passphrase' })).status).toBe(303);
  });
});

/** A user with two-factor on (set up through /account), a passkey and a linked provider account (rows as the ceremonies write them). */
async function userWithSignInMethods() {
  const user = await createUser();
  const browser = await signedInBrowser(user);
  const twoFactor = await turnOnTwoFactor(browser);
  const publicKey = `pQECAyYgASFYI-${crypto.randomUUID()}`;
  await env.DB.prepare(
    `insert into passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, name, created_at, last_used_at)
     values (?, ?, ?, 0, '["internal"]', 'multiDevice', 1, 'Work laptop key', 1700000000, 1700003600)`,
  )
    .bind(crypto.randomUUID(), user.id, publicKey)
    .run();
  await env.DB.prepare('insert into user_identities (provider_id, subject, user_id, email, linked_at) values (?, ?, ?, ?, 1700007200)')
    .bind('gh', `gh-${user.id}`, user.id, 'octo@upstream.example')
    .run();
  return { user, browser, twoFactor, publicKey };
}

async function twoFactorRows(userId: string) {
  const credential = await env.DB.prepare('select count(*) as n from totp_credentials where user_id = ?')
    .bind(userId)
    .first<{ n: number }>();
  const codes = await env.DB.prepare('select count(*) as n from recovery_codes where user_id = ?').bind(userId).first<{ n: number }>();
  return { credential: credential?.n, codes: codes?.n };
}

describe("a user's sign-in methods", () => {
  it('the user page shows passkeys, two-factor and linked providers, and nothing secret', async () => {
    const { browser } = await signedInAdmin();
    const { user, twoFactor, publicKey } = await userWithSignInMethods();
    const page = await browser.get(`/admin/users/${user.id}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const title of ['Passkeys', 'Two-factor', 'Linked providers']) expect(html).toContain(`<h2>${title}</h2>`);
    expect(html).toContain('Work laptop key · created 2023-11-14 22:13 UTC · last used 2023-11-14 23:13 UTC · backed up (synced)');
    expect(html).toMatch(/On since \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(html).toContain('Unused recovery codes: 10');
    expect(html).toContain('GitHub (gh) · octo@upstream.example · linked 2023-11-15 00:13 UTC');
    expect(html).toContain('>Reset two-factor</button>');
    expect(html).not.toContain(publicKey);
    expect(html).not.toContain(twoFactor.app.secret);
    expect(html).not.toContain(twoFactor.recoveryCodes[0]);

    // A user with none of them: each section says so.
    const plain = await createUser();
    const plainHtml = await (await browser.get(`/admin/users/${plain.id}`)).text();
    expect(plainHtml).toContain('<h2>Passkeys</h2><p>None.</p>');
    expect(plainHtml).toContain('<li>Off</li>');
    // Nothing to reset: no button.
    expect(plainHtml).not.toContain('>Reset two-factor</button>');
  });

  it('reset two-factor turns it off (audited, naming the admin): the next sign-in asks for no code; open sessions stay', async () => {
    const { admin, browser } = await signedInAdmin();
    const { user, browser: theirs } = await userWithSignInMethods();
    // A sign-in waiting for its code when the reset comes.
    const waiting = new Browser();
    const password = await enterPassword(waiting, user);
    expect(password.headers.get('Location')).toBe('/login/two-factor');

    const reset = await adminAction(browser, `/admin/users/${user.id}/reset-two-factor`);
    expect(reset.status).toBe(303);
    expect(reset.headers.get('Location')).toBe(`/admin/users/${user.id}`);
    expect(await twoFactorRows(user.id)).toEqual({ credential: 0, codes: 0 });
    const events = await auditEventsOf('two_factor_reset', { userId: user.id });
    expect(events).toHaveLength(1);
    expect(events[0]?.actor_id).toBe(admin.id);
    const after = await (await browser.get(`/admin/users/${user.id}`)).text();
    expect(after).toContain('<li>Off</li>');
    expect(after).not.toContain('>Reset two-factor</button>');

    // The password alone signs in now; the pending sign-in can no longer be completed with a code.
    const fresh = await new Browser().submit('/login', { email: user.email, password: user.password });
    expect(fresh.status).toBe(303);
    expect(fresh.headers.get('Location')).not.toBe('/login/two-factor');
    expect((await waiting.get('/login/two-factor')).status).toBe(303);
    // Their open session stays (the reset weakens no session, and the admin has Sign out everywhere for that).
    expect((await theirs.get('/account')).status).toBe(200);

    // Again: nothing to reset, nothing audited.
    expect((await adminAction(browser, `/admin/users/${user.id}/reset-two-factor`)).status).toBe(303);
    expect(await auditEventsOf('two_factor_reset', { userId: user.id })).toHaveLength(1);
    expect((await adminAction(browser, '/admin/users/nobody/reset-two-factor')).status).toBe(404);
  });

  it('the admin API shows the sections and resets two-factor', async () => {
    const { admin } = await signedInAdmin();
    const token = await userToken(admin);
    const { user, publicKey } = await userWithSignInMethods();
    const read = await call(`/api/admin/users/${user.id}`, { headers: bearer(token) });
    expect(read.status).toBe(200);
    const text = await read.text();
    expect(text).not.toContain(publicKey);
    const body = JSON.parse(text) as { sections: { id: string; title: string; items: string[] }[]; canResetTwoFactor: boolean };
    expect(body.sections.map((section) => section.id)).toEqual(['passkeys', 'two_factor', 'linked_providers']);
    expect(body.sections[0]?.items[0]).toContain('Work laptop key');
    expect(body.sections[1]?.items[0]).toMatch(/^On since /);
    expect(body.sections[2]?.items[0]).toContain('GitHub (gh)');
    expect(body.canResetTwoFactor).toBe(true);

    const reset = await call(`/api/admin/users/${user.id}/reset-two-factor`, { method: 'POST', headers: bearer(token) });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toEqual({ result: 'done' });
    expect(await twoFactorRows(user.id)).toEqual({ credential: 0, codes: 0 });
    const again = await call(`/api/admin/users/${user.id}/reset-two-factor`, { method: 'POST', headers: bearer(token) });
    expect(await again.json()).toEqual({ result: 'unchanged' });
    expect((await auditEventsOf('two_factor_reset', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
  });
});
