import { type Context, Hono } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import type { Deps } from '../deps';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { clientIp } from '../helpers/client-ip';
import { now } from '../lib/crypto';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { requireAdminPage } from '../middleware/require-admin';
import { loadSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { AUDIT_EVENT_TYPES, auditCsv, findAuditEvents } from '../services/admin-audit';
import { clientOverview, deleteClientAsAdmin, disableClient, enableClient, findClients } from '../services/admin-clients';
import { dashboard } from '../services/admin-dashboard';
import {
  type Actor,
  type AdminActionResult,
  disableUser,
  enableUser,
  findUsers,
  type Page,
  requirePasswordReset,
  resetTwoFactor,
  setUserRole,
  signOutUserEverywhere,
  userOverview,
} from '../services/admin-users';
import { ClientPage, ClientsPage } from '../views/admin-clients';
import { AuditPage, DashboardPage } from '../views/admin-dashboard';
import { UserPage, UsersPage } from '../views/admin-users';
import { auditQuery, clientPath, listQuery, rolePath, toAuditQuery, userPath } from './admin-params';
import { safeReturnTo } from './login';

/**
 * The admin console's pages (issue 18): the dashboard, users, clients and the
 * audit log. Every route, and any path under /admin, first needs an enabled
 * admin's session (403 otherwise); every action is a CSRF-protected form
 * POST, and audited with the admin as its actor.
 */
export const admin = new Hono<AppEnv>();

admin.use(loadSession, requireAdminPage);

/** Who acts: the signed-in admin (requireAdminPage made sure). */
function actorOf(c: Context<AppEnv>): Actor {
  return { id: c.var.session!.user.id, ip: clientIp(c) };
}

/** Where a finished action goes back to: a page of the console the form named, else `fallback`. */
async function backTo(c: Context<AppEnv>, fallback: string): Promise<string> {
  const body = await c.req.parseBody();
  const target = safeReturnTo(body.return_to);
  return target === '/admin' || target.startsWith('/admin/') ? target : fallback;
}

/** An action's result as the browser sees it: back to the page, or the error page saying why not. */
async function answer(c: Context<AppEnv>, result: AdminActionResult, fallback: string) {
  if (result === 'not_found') throw new PageError('Not found', 'There is no such user or client.', 404);
  if (result === 'last_admin') {
    throw new PageError('Not allowed', 'This is the last administrator: make someone else an administrator first.', 409);
  }
  return c.redirect(await backTo(c, fallback), 303);
}

/** What every searchable list page (users, clients) is drawn from: the search, one page of rows, and where its row actions come back to. */
interface ListPageProps<T> {
  csrf: string;
  search: string | undefined;
  page: number;
  hasNext: boolean;
  rows: T[];
  returnTo: string;
}

/** A searchable, paged list page: finds the page of `q`, and renders it with the props every list shares (its actions return to this very page). */
async function listPage<T>(
  c: Context<AppEnv>,
  { q, page }: { q: string | undefined; page: number },
  find: (deps: Deps, search: string | undefined, page: number) => Promise<Page<T>>,
  render: (props: ListPageProps<T>) => JSX.Element,
) {
  const found = await find(c.var.deps, q, page);
  const url = new URL(c.req.url);
  return c.html(
    render({
      csrf: csrfToken(c),
      search: q,
      page: found.page,
      hasNext: found.hasNext,
      rows: found.rows,
      returnTo: url.pathname + url.search,
    }),
  );
}

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf] as const;

admin.get('/', async function dashboardPage(c) {
  const { day, week } = await dashboard(c.var.deps, now());
  return c.html(<DashboardPage day={day} week={week} />);
});

admin.get('/users', validatePage('query', listQuery), async function usersPage(c) {
  return listPage(c, c.req.valid('query'), findUsers, ({ rows, ...props }) => <UsersPage {...props} users={rows} />);
});

admin.get('/users/:id', validatePage('param', userPath), async function userPage(c) {
  const overview = await userOverview(c.var.deps, c.req.valid('param').id);
  if (!overview) throw new PageError('Not found', 'There is no such user.', 404);
  return c.html(<UserPage csrf={csrfToken(c)} {...overview} />);
});

/** The user actions, each its own POST route: path segment → service. */
const userActions = {
  disable: disableUser,
  enable: enableUser,
  'sign-out': signOutUserEverywhere,
  'require-password-reset': requirePasswordReset,
  'reset-two-factor': resetTwoFactor,
} as const;

for (const [name, run] of Object.entries(userActions)) {
  admin.post(`/users/:id/${name}`, ...formPost, validatePage('param', userPath), async function userAction(c) {
    const { id } = c.req.valid('param');
    return answer(c, await run(c.var.deps, actorOf(c), id), `/admin/users/${encodeURIComponent(id)}`);
  });
}

admin.post('/users/:id/role/:role', ...formPost, validatePage('param', rolePath), async function userRole(c) {
  const { id, role } = c.req.valid('param');
  return answer(c, await setUserRole(c.var.deps, actorOf(c), id, role), `/admin/users/${encodeURIComponent(id)}`);
});

admin.get('/clients', validatePage('query', listQuery), async function clientsPage(c) {
  return listPage(c, c.req.valid('query'), findClients, ({ rows, ...props }) => <ClientsPage {...props} clients={rows} />);
});

admin.get('/clients/:id', validatePage('param', clientPath), async function clientPage(c) {
  const overview = await clientOverview(c.var.deps, c.req.valid('param').id);
  if (!overview) throw new PageError('Not found', 'There is no such client.', 404);
  return c.html(<ClientPage csrf={csrfToken(c)} {...overview} />);
});

const clientActions = { disable: disableClient, enable: enableClient } as const;

for (const [name, run] of Object.entries(clientActions)) {
  admin.post(`/clients/:id/${name}`, ...formPost, validatePage('param', clientPath), async function clientAction(c) {
    const { id } = c.req.valid('param');
    return answer(c, await run(c.var.deps, actorOf(c), id), `/admin/clients/${encodeURIComponent(id)}`);
  });
}

admin.post('/clients/:id/delete', ...formPost, validatePage('param', clientPath), async function deleteClient(c) {
  const result = await deleteClientAsAdmin(c.var.deps, actorOf(c), c.req.valid('param').id);
  // The client's own page is gone: back to the list.
  return answer(c, result, '/admin/clients');
});

admin.get('/audit', validatePage('query', auditQuery), async function auditPage(c) {
  const parsed = c.req.valid('query');
  const found = await findAuditEvents(c.var.deps, toAuditQuery(parsed), parsed.page);
  const raw = c.req.query();
  const shown = { user: raw.user, client: raw.client, type: raw.type, from: raw.from, to: raw.to };
  return c.html(<AuditPage query={shown} types={AUDIT_EVENT_TYPES} rows={found.rows} page={found.page} hasNext={found.hasNext} />);
});

admin.get('/audit.csv', validatePage('query', auditQuery), async function auditExport(c) {
  const csv = await auditCsv(c.var.deps, toAuditQuery(c.req.valid('query')));
  return c.body(csv, 200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': 'attachment; filename="tollgate-audit.csv"',
    'Cache-Control': 'no-store',
  });
});
