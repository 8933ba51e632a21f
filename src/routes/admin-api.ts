import { type Context, Hono } from 'hono';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientIp } from '../helpers/client-ip';
import { now } from '../lib/crypto';
import { requireUserToken } from '../middleware/bearer-auth';
import { limitBody, requireContentType } from '../middleware/body';
import { requireAdminToken } from '../middleware/require-admin';
import { validate } from '../middleware/validate';
import { auditCsv, findAuditEvents } from '../services/admin-audit';
import { clientOverview, deleteClientAsAdmin, disableClient, enableClient, findClients } from '../services/admin-clients';
import { dashboard } from '../services/admin-dashboard';
import {
  type Actor,
  type AdminActionResult,
  disableUser,
  enableUser,
  findUsers,
  requirePasswordReset,
  resetTwoFactor,
  setUserRole,
  signOutUserEverywhere,
  userOverview,
} from '../services/admin-users';
import { auditQuery, clientPath, listQuery, roleBody, toAuditQuery, userPath } from './admin-params';

/**
 * The admin API (issue 18): the console's reads and actions as JSON, for an
 * admin's user API token (`POST /api/login`). No cookies, so no CSRF; every
 * route needs the token (401) of an enabled admin (403), checked before
 * anything is read. Actions answer `{result: "done" | "unchanged"}`, 404 for
 * no such user or client, 409 for the last admin.
 */
export const adminApi = new Hono<AppEnv>();

adminApi.use(requireUserToken, requireAdminToken);
adminApi.use(async function noStore(c, next) {
  await next();
  c.header('Cache-Control', 'no-store');
});

function actorOf(c: Context<AppEnv>): Actor {
  return { id: c.var.apiUser.userId, ip: clientIp(c) };
}

function answer(c: Context<AppEnv>, result: AdminActionResult) {
  if (result === 'not_found') throw new OAuthError('not_found', { status: 404, description: 'no such user or client' });
  if (result === 'last_admin') {
    throw new OAuthError('conflict', {
      status: 409,
      description: 'this is the last administrator: make someone else an administrator first',
    });
  }
  return c.json({ result });
}

adminApi.get('/dashboard', async function dashboardData(c) {
  return c.json(await dashboard(c.var.deps, now()));
});

adminApi.get('/users', validate('query', listQuery), async function listUsers(c) {
  const { q, page } = c.req.valid('query');
  const found = await findUsers(c.var.deps, q, page);
  return c.json({ users: found.rows, page: found.page, has_next: found.hasNext });
});

adminApi.get('/users/:id', validate('param', userPath), async function readUser(c) {
  const overview = await userOverview(c.var.deps, c.req.valid('param').id);
  if (!overview) throw new OAuthError('not_found', { status: 404, description: 'no such user' });
  return c.json(overview);
});

const userActions = {
  disable: disableUser,
  enable: enableUser,
  'sign-out': signOutUserEverywhere,
  'require-password-reset': requirePasswordReset,
  'reset-two-factor': resetTwoFactor,
} as const;

for (const [name, run] of Object.entries(userActions)) {
  adminApi.post(`/users/:id/${name}`, validate('param', userPath), async function userAction(c) {
    return answer(c, await run(c.var.deps, actorOf(c), c.req.valid('param').id));
  });
}

adminApi.put(
  '/users/:id/role',
  limitBody,
  requireContentType('application/json'),
  validate('param', userPath),
  validate('json', roleBody),
  async function userRole(c) {
    return answer(c, await setUserRole(c.var.deps, actorOf(c), c.req.valid('param').id, c.req.valid('json').role));
  },
);

adminApi.get('/clients', validate('query', listQuery), async function listClients(c) {
  const { q, page } = c.req.valid('query');
  const found = await findClients(c.var.deps, q, page);
  return c.json({ clients: found.rows, page: found.page, has_next: found.hasNext });
});

adminApi.get('/clients/:id', validate('param', clientPath), async function readClient(c) {
  const overview = await clientOverview(c.var.deps, c.req.valid('param').id);
  if (!overview) throw new OAuthError('not_found', { status: 404, description: 'no such client' });
  return c.json(overview);
});

adminApi.post('/clients/:id/disable', validate('param', clientPath), async function clientDisable(c) {
  return answer(c, await disableClient(c.var.deps, actorOf(c), c.req.valid('param').id));
});

adminApi.post('/clients/:id/enable', validate('param', clientPath), async function clientEnable(c) {
  return answer(c, await enableClient(c.var.deps, actorOf(c), c.req.valid('param').id));
});

adminApi.delete('/clients/:id', validate('param', clientPath), async function clientDelete(c) {
  return answer(c, await deleteClientAsAdmin(c.var.deps, actorOf(c), c.req.valid('param').id));
});

adminApi.get('/audit', validate('query', auditQuery), async function auditEvents(c) {
  const parsed = c.req.valid('query');
  const found = await findAuditEvents(c.var.deps, toAuditQuery(parsed), parsed.page);
  return c.json({ events: found.rows, page: found.page, has_next: found.hasNext });
});

adminApi.get('/audit.csv', validate('query', auditQuery), async function auditExport(c) {
  const csv = await auditCsv(c.var.deps, toAuditQuery(c.req.valid('query')));
  return c.body(csv, 200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': 'attachment; filename="tollgate-audit.csv"',
  });
});
