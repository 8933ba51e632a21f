import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { csrfOf, signedInAdmin, userRow } from '../admin-support';
import { bearer, call, createUser, signedInBrowser, userToken } from '../helpers';

// Attack: a signed-in user who is not an admin (or an admin's forged or
// cross-site request) reaches the admin console. Every admin page and API
// route is enumerated from the app's own route table, so a route added later
// is covered without touching this file.

const adminRoutes = app.routes
  .filter(
    (route) =>
      route.method !== 'ALL' && (route.path === '/admin' || route.path.startsWith('/admin/') || route.path.startsWith('/api/admin/')),
  )
  .map((route) => ({ method: route.method, path: route.path.replace(/:role\b/, 'admin').replace(/:[a-z]+/g, 'x') }));

/** A body for the routes that take one, so a refusal is never for a missing body. */
function init(method: string, headers: Record<string, string>, page: boolean, csrf = ''): RequestInit {
  if (method === 'GET') return { method, headers };
  if (page) {
    return { method, headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${csrf}` };
  }
  return { method, headers: { ...headers, 'Content-Type': 'application/json' }, body: '{"role":"admin"}' };
}

describe('admin routes', () => {
  it('the route table has the pages and the API', () => {
    const paths = adminRoutes.map((route) => `${route.method} ${route.path}`);
    expect(paths).toContain('GET /admin');
    expect(paths).toContain('GET /admin/users');
    expect(paths).toContain('POST /admin/users/x/disable');
    expect(paths).toContain('GET /api/admin/users');
    expect(paths).toContain('DELETE /api/admin/clients/x');
    expect(adminRoutes.length).toBeGreaterThan(25);
  });

  it('a signed-in non-admin gets 403 on every admin page, and nothing changes', async () => {
    const user = await createUser();
    const victim = await createUser();
    const browser = await signedInBrowser(user);
    const csrf = await csrfOf(browser, '/account');
    for (const route of adminRoutes.filter((r) => !r.path.startsWith('/api/'))) {
      const path = route.path.replace('/x', `/${victim.id}`);
      const response = await browser.fetch(path, init(route.method, {}, true, csrf));
      expect(response.status, `${route.method} ${path}`).toBe(403);
      expect(await response.text()).toContain('Admins only');
    }
    expect(await userRow(victim.id)).toEqual({ role: 'user', disabled_at: null });
    expect(await userRow(user.id)).toEqual({ role: 'user', disabled_at: null });
  });

  it('a non-admin user API token gets 403 on every admin API route; no token gets 401', async () => {
    const user = await createUser();
    const victim = await createUser();
    const token = await userToken(user);
    for (const route of adminRoutes.filter((r) => r.path.startsWith('/api/'))) {
      const path = route.path.replace('/x', `/${victim.id}`);
      const response = await call(path, init(route.method, bearer(token), false));
      expect(response.status, `${route.method} ${path}`).toBe(403);
      expect(((await response.json()) as { error: string }).error).toBe('access_denied');
      expect((await call(path, init(route.method, {}, false))).status, `${route.method} ${path} without a token`).toBe(401);
    }
    expect(await userRow(victim.id)).toEqual({ role: 'user', disabled_at: null });
    expect(await userRow(user.id)).toEqual({ role: 'user', disabled_at: null });
  });

  it('a signed-out browser is sent to sign in, and a path under /admin that matches no route is refused too', async () => {
    const response = await call('/admin/users');
    expect(response.status).toBe(302);
    expect(response.headers.get('Location')).toBe('/login?return_to=%2Fadmin%2Fusers');
    const browser = await signedInBrowser(await createUser());
    expect((await browser.get('/admin/anything-else')).status).toBe(403);
  });

  it('a disabled admin is no admin, for pages and API alike', async () => {
    const { admin, browser } = await signedInAdmin();
    const token = await userToken(admin);
    // Disabled behind the console's back (the console would also end their session).
    await env.DB.prepare('update users set disabled_at = 1 where id = ?').bind(admin.id).run();
    expect((await browser.get('/admin')).status).not.toBe(200);
    expect((await call('/api/admin/users', { headers: bearer(token) })).status).not.toBe(200);
  });

  it('taking the role away ends the admin power of an open session and token at once', async () => {
    const { admin, browser } = await signedInAdmin();
    const token = await userToken(admin);
    await env.DB.prepare(`update users set role = 'user' where id = ?`).bind(admin.id).run();
    expect((await browser.get('/admin')).status).toBe(403);
    expect((await call('/api/admin/users', { headers: bearer(token) })).status).toBe(403);
  });
});
