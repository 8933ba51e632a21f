import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { adminAction, auditEventsOf, csrfOf, makeAdmin, signedInAdmin, userRow } from '../admin-support';
import { bearer, call, createUser, ISSUER, registerClient, signedInBrowser, userToken } from '../helpers';
import { csrfOf as pageCsrfOf, turnOnTwoFactor } from '../totp-support';

// Attacks on the admin console's actions: a cross-site form that rides an
// admin's session (CSRF), and removing the last admin so that nobody can run
// the server's console any more.

/**
 * Every admin form action, from the app's own route table (as admin-access.test.ts
 * reads it), so an action added later is covered without touching this file.
 */
const adminPostRoutes = [
  ...new Set(app.routes.filter((route) => route.method === 'POST' && route.path.startsWith('/admin/')).map((route) => route.path)),
];

describe('CSRF on admin actions', () => {
  it('the route table has every admin action', () => {
    expect(adminPostRoutes).toEqual(
      expect.arrayContaining([
        '/admin/users/:id/disable',
        '/admin/users/:id/enable',
        '/admin/users/:id/sign-out',
        '/admin/users/:id/require-password-reset',
        '/admin/users/:id/reset-two-factor',
        '/admin/users/:id/role/:role',
        '/admin/clients/:id/disable',
        '/admin/clients/:id/enable',
        '/admin/clients/:id/delete',
      ]),
    );
  });

  it('every action, posted without the form token, with a wrong one, or from another origin, is 403 and changes nothing', async () => {
    const { admin, browser } = await signedInAdmin();
    const token = await csrfOf(browser);
    // A subject each action would change were it let through: a disabled one to enable, an admin to demote.
    const victim = await createUser();
    const disabledVictim = await createUser();
    await env.DB.prepare('update users set disabled_at = 1 where id = ?').bind(disabledVictim.id).run();
    const adminVictim = await createUser();
    await makeAdmin(adminVictim);
    const owner = await userToken(await createUser());
    const client = (await registerClient(owner)).client_id;
    const disabledClient = (await registerClient(owner)).client_id;
    await env.DB.prepare('insert into disabled_clients (client_id, disabled_at) values (?, 1)').bind(disabledClient).run();

    /** The concrete paths of one routed action, each on a subject it would change. */
    function targets(route: string): string[] {
      const enable = route.endsWith('/enable');
      if (route.startsWith('/admin/users/')) {
        if (route.includes(':role')) {
          return [route.replace(':id', victim.id).replace(':role', 'admin'), route.replace(':id', adminVictim.id).replace(':role', 'user')];
        }
        return [route.replace(':id', enable ? disabledVictim.id : victim.id)];
      }
      if (route.startsWith('/admin/clients/')) return [route.replace(':id', encodeURIComponent(enable ? disabledClient : client))];
      throw new Error(`no subject for ${route}: add one here`);
    }

    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      ['no token', {}, {}],
      ['wrong token', { csrf_token: 'x'.repeat(43) }, {}],
      ['another origin', { csrf_token: token }, { Origin: 'https://evil.example' }],
    ];
    let tried = 0;
    for (const route of adminPostRoutes) {
      for (const path of targets(route)) {
        expect(path, route).not.toContain(':');
        for (const [what, fields, headers] of attempts) {
          const response = await browser.post(path, fields, headers);
          expect(response.status, `${what}: ${path}`).toBe(403);
          tried += 1;
        }
      }
    }
    expect(tried).toBeGreaterThanOrEqual(10 * attempts.length);

    // Nothing happened: no subject changed, and no action was audited with this admin as its actor.
    expect(await userRow(victim.id)).toEqual({ role: 'user', disabled_at: null });
    expect(await userRow(disabledVictim.id)).toEqual({ role: 'user', disabled_at: 1 });
    expect(await userRow(adminVictim.id)).toEqual({ role: 'admin', disabled_at: null });
    const clientRows = await env.DB.prepare(
      'select c.id, d.client_id as disabled from clients c left join disabled_clients d on d.client_id = c.id where c.id in (?, ?) order by c.id = ?',
    )
      .bind(client, disabledClient, disabledClient)
      .all<{ id: string; disabled: string | null }>();
    expect(clientRows.results).toEqual([
      { id: client, disabled: null },
      { id: disabledClient, disabled: disabledClient },
    ]);
    const audited = await env.DB.prepare('select count(*) as n from audit_events where actor_id = ?').bind(admin.id).first<{ n: number }>();
    expect(audited?.n).toBe(0);

    // A browser without the admin's cookies cannot even get there.
    expect((await call(`/admin/users/${victim.id}/disable`, { method: 'POST' })).status).toBe(303);
    // The same form with the token and our own origin works, and is audited.
    expect((await adminAction(browser, `/admin/users/${victim.id}/disable`, {})).status).toBe(303);
    expect((await browser.post(`/admin/users/${victim.id}/enable`, { csrf_token: token }, { Origin: ISSUER })).status).toBe(303);
    expect(await auditEventsOf('user_disabled', { userId: victim.id })).toHaveLength(1);
  });
});

describe('reset two-factor', () => {
  /** Whether the user still has two-factor on. */
  async function twoFactorOn(userId: string): Promise<boolean> {
    const row = await env.DB.prepare('select confirmed_at from totp_credentials where user_id = ?')
      .bind(userId)
      .first<{ confirmed_at: number | null }>();
    return row?.confirmed_at != null;
  }

  it('a non-admin (page or API), a forged form and a cross-site one leave two-factor on; only the admin form turns it off', async () => {
    const victim = await createUser();
    await turnOnTwoFactor(await signedInBrowser(victim));
    const path = `/admin/users/${victim.id}/reset-two-factor`;

    // A signed-in user who is not an admin, with their own valid CSRF token; and their API token.
    const user = await createUser();
    const theirs = await signedInBrowser(user);
    expect((await theirs.post(path, { csrf_token: await pageCsrfOf(theirs, '/account') })).status).toBe(403);
    expect((await call(`/api${path}`, { method: 'POST', headers: bearer(await userToken(user)) })).status).toBe(403);

    // An admin's browser, made to post without the token, with a wrong one, or from another site.
    const { browser } = await signedInAdmin();
    const token = await csrfOf(browser);
    expect((await browser.post(path, {})).status).toBe(403);
    expect((await browser.post(path, { csrf_token: 'x'.repeat(43) })).status).toBe(403);
    expect((await browser.post(path, { csrf_token: token }, { Origin: 'https://evil.example' })).status).toBe(403);
    expect(await twoFactorOn(victim.id)).toBe(true);
    expect(await auditEventsOf('two_factor_reset', { userId: victim.id })).toHaveLength(0);

    expect((await browser.post(path, { csrf_token: token }, { Origin: ISSUER })).status).toBe(303);
    expect(await twoFactorOn(victim.id)).toBe(false);
    expect(await auditEventsOf('two_factor_reset', { userId: victim.id })).toHaveLength(1);
  });
});

describe('the last admin', () => {
  /** Leaves exactly one enabled admin: every other admin (from other tests) is demoted. */
  async function onlyAdmin() {
    const { admin, browser } = await signedInAdmin();
    await env.DB.prepare(`update users set role = 'user' where role = 'admin' and id <> ?`).bind(admin.id).run();
    return { admin, browser };
  }

  it('cannot disable themselves nor drop their role, by page or API; with a second admin they can', async () => {
    const { admin, browser } = await onlyAdmin();
    const disable = await adminAction(browser, `/admin/users/${admin.id}/disable`);
    expect(disable.status).toBe(409);
    expect(await disable.text()).toContain('last administrator');
    expect((await adminAction(browser, `/admin/users/${admin.id}/role/user`)).status).toBe(409);
    const token = await userToken(admin);
    const api = await call(`/api/admin/users/${admin.id}/disable`, { method: 'POST', headers: bearer(token) });
    expect(api.status).toBe(409);
    expect(((await api.json()) as { error: string }).error).toBe('conflict');
    expect(await userRow(admin.id)).toEqual({ role: 'admin', disabled_at: null });
    expect(await auditEventsOf('user_disabled', { userId: admin.id })).toHaveLength(0);
    // Nothing else of the refused disable happened either: the admin is still signed in.
    expect((await browser.get('/admin')).status).toBe(200);

    const second = await createUser();
    await makeAdmin(second);
    expect((await adminAction(browser, `/admin/users/${admin.id}/role/user`)).status).toBe(303);
    expect((await userRow(admin.id))?.role).toBe('user');
  });

  it('two admins disabling each other at once: one of them stays', async () => {
    await onlyAdmin();
    const [a, b] = [await signedInAdmin(), await signedInAdmin()];
    await env.DB.prepare(`update users set role = 'user' where role = 'admin' and id not in (?, ?)`).bind(a.admin.id, b.admin.id).run();
    // Whichever runs second is refused (409), or finds its own session already ended (sent to sign in).
    await Promise.all([
      adminAction(a.browser, `/admin/users/${b.admin.id}/disable`),
      adminAction(b.browser, `/admin/users/${a.admin.id}/disable`),
    ]);
    const enabled = await env.DB.prepare(`select count(*) as n from users where role = 'admin' and disabled_at is null`).first<{
      n: number;
    }>();
    expect(enabled?.n).toBe(1);
  });
});
