import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { auditEventsOf, signedInAdmin, userRow } from './admin-support';
import { bearer, call, createUser, issueTokens, json, refreshAs, registerClient, signedInBrowser, userToken } from './helpers';

// The admin API's success paths (issue 18): each action's answer, and its
// effect as D1 holds it, with the admin named as the audit event's actor.
// Refusals (401, 403, 404, 409, bad input) are in test/admin.test.ts and
// test/security/admin-*.test.ts.

/** An admin's API token, and a request with it. */
async function adminApi() {
  const { admin } = await signedInAdmin();
  const token = await userToken(admin);
  const request = (path: string, init: RequestInit = {}) =>
    call(`/api/admin${path}`, { ...init, headers: { ...bearer(token), ...(init.headers as Record<string, string>) } });
  return { admin, request };
}

/** How many rows of `table` have `column` = `value`. */
async function countRows(table: string, column: string, value: string): Promise<number> {
  const row = await env.DB.prepare(`select count(*) as n from ${table} where ${column} = ?`).bind(value).first<{ n: number }>();
  return row?.n ?? 0;
}

describe('admin API: clients', () => {
  it('lists, reads, disables, enables and deletes a client', async () => {
    const { admin, request } = await adminApi();
    const user = await createUser();
    const client = await registerClient(await userToken(await createUser()), {
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'openid books:read offline_access' });
    const path = `/clients/${client.client_id}`;

    const list = await request(`/clients?q=${client.client_id}`);
    expect(list.status).toBe(200);
    expect(list.headers.get('Cache-Control')).toBe('no-store');
    const listed = (await list.json()) as { clients: { id: string; disabledAt: number | null }[]; has_next: boolean };
    expect(listed.clients.map((row) => [row.id, row.disabledAt])).toEqual([[client.client_id, null]]);
    expect(listed.has_next).toBe(false);

    const read = await request(path);
    expect(read.status).toBe(200);
    const overview = (await read.json()) as {
      client: { id: string; name: string };
      grants: { userId: string }[];
      liveRefreshTokens: number;
    };
    expect(overview.client).toMatchObject({ id: client.client_id, name: 'Reading List' });
    expect(overview.grants.map((grant) => grant.userId)).toEqual([user.id]);
    expect(overview.liveRefreshTokens).toBe(1);

    const disabled = await request(`${path}/disable`, { method: 'POST' });
    expect(await disabled.json()).toEqual({ result: 'done' });
    const mark = await env.DB.prepare('select disabled_by from disabled_clients where client_id = ?')
      .bind(client.client_id)
      .first<{ disabled_by: string }>();
    expect(mark?.disabled_by).toBe(admin.id);
    expect((await refreshAs(client, tokens.refresh_token as string)).status).toBe(401);
    expect(await (await request(`${path}/disable`, { method: 'POST' })).json()).toEqual({ result: 'unchanged' });

    const enabled = await request(`${path}/enable`, { method: 'POST' });
    expect(await enabled.json()).toEqual({ result: 'done' });
    expect(await countRows('disabled_clients', 'client_id', client.client_id)).toBe(0);
    const refreshed = await refreshAs(client, tokens.refresh_token as string);
    expect(refreshed.status).toBe(200);
    expect(await (await request(`${path}/enable`, { method: 'POST' })).json()).toEqual({ result: 'unchanged' });

    const deleted = await request(path, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ result: 'done' });
    expect(await countRows('clients', 'id', client.client_id)).toBe(0);
    expect(await countRows('grants', 'client_id', client.client_id)).toBe(0);
    expect(await countRows('refresh_tokens', 'client_id', client.client_id)).toBe(0);
    expect((await request(path, { method: 'DELETE' })).status).toBe(404);
    expect((await request(path)).status).toBe(404);

    for (const type of ['client_disabled', 'client_enabled', 'client_deleted']) {
      const events = await auditEventsOf(type, { clientId: client.client_id });
      expect(
        events.map((event) => event.actor_id),
        type,
      ).toEqual([admin.id]);
    }
  });
});

describe('admin API: users', () => {
  it('signs a user out everywhere: sessions and API tokens end, the account stays', async () => {
    const { admin, request } = await adminApi();
    const user = await createUser();
    const browser = await signedInBrowser(user);
    await userToken(user);
    expect(await countRows('sessions', 'user_id', user.id)).toBeGreaterThan(0);
    expect(await countRows('user_api_tokens', 'user_id', user.id)).toBeGreaterThan(0);

    const response = await request(`/users/${user.id}/sign-out`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: 'done' });
    expect(await countRows('sessions', 'user_id', user.id)).toBe(0);
    expect(await countRows('user_api_tokens', 'user_id', user.id)).toBe(0);
    expect((await browser.get('/account')).status).toBe(302);
    expect(await userRow(user.id)).toEqual({ role: 'user', disabled_at: null });
    expect((await auditEventsOf('user_signed_out', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
  });

  it('requires a password reset: the requirement is stored, naming the admin, and the user is signed out', async () => {
    const { admin, request } = await adminApi();
    const user = await createUser();
    await signedInBrowser(user);
    const response = await request(`/users/${user.id}/require-password-reset`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: 'done' });
    const requirement = await env.DB.prepare('select required_by from password_reset_requirements where user_id = ?')
      .bind(user.id)
      .first<{ required_by: string }>();
    expect(requirement?.required_by).toBe(admin.id);
    expect(await countRows('sessions', 'user_id', user.id)).toBe(0);
    expect((await json('/api/login', { email: user.email, password: user.password })).status).toBe(403);
    expect((await auditEventsOf('password_reset_required', { userId: user.id }))[0]?.actor_id).toBe(admin.id);
  });

  it('PUT role makes a user an admin and back, audited', async () => {
    const { admin, request } = await adminApi();
    const user = await createUser();
    const setRole = (role: string) =>
      request(`/users/${user.id}/role`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role }) });

    const granted = await setRole('admin');
    expect(granted.status).toBe(200);
    expect(await granted.json()).toEqual({ result: 'done' });
    expect((await userRow(user.id))?.role).toBe('admin');
    expect(await (await setRole('admin')).json()).toEqual({ result: 'unchanged' });
    expect(await (await setRole('user')).json()).toEqual({ result: 'done' });
    expect((await userRow(user.id))?.role).toBe('user');
    expect((await auditEventsOf('admin_granted', { userId: user.id })).map((event) => event.actor_id)).toEqual([admin.id]);
    expect((await auditEventsOf('admin_revoked', { userId: user.id })).map((event) => event.actor_id)).toEqual([admin.id]);
  });
});

describe('admin API: audit.csv', () => {
  it('exports the filtered events as CSV, not to be stored', async () => {
    const { admin, request } = await adminApi();
    const user = await createUser();
    expect(await (await request(`/users/${user.id}/disable`, { method: 'POST' })).json()).toEqual({ result: 'done' });

    const response = await request(`/audit.csv?user=${user.id}&type=user_disabled`);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('Content-Disposition')).toBe('attachment; filename="tollgate-audit.csv"');
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    const lines = (await response.text()).split('\r\n');
    expect(lines[0]).toBe('"time","type","user_id","user_email","client_id","client_name","ip","actor_id","actor_email"');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    const cells = lines[1]!.split(',');
    expect(cells.slice(1, 4)).toEqual(['"user_disabled"', `"${user.id}"`, `"${user.email}"`]);
    expect(cells.slice(7)).toEqual([`"${admin.id}"`, `"${admin.email}"`]);
  });
});
