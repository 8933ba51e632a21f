import { Hono } from 'hono';
import { z } from 'zod';
import { GRANT_ID_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession } from '../middleware/session';
import { revokeGrantOfUser } from '../services/grants';
import { recentActivity } from '../storage/audit';
import { listClientsOfOwner } from '../storage/clients';
import { listGrantsOfUser } from '../storage/grants';
import { AccountPage } from '../views/account';

/** The signed-in user's page: the apps they authorized (each revocable) and the clients they registered. */
export const account = new Hono<AppEnv>();

account.use(loadSession);

account.get('/', async function accountPage(c) {
  const session = c.var.session;
  if (!session) return c.redirect('/login?return_to=%2Faccount', 302);
  const [apps, owned, activity] = await Promise.all([
    listGrantsOfUser(c.var.deps.db, session.user.id),
    listClientsOfOwner(c.var.deps.db, session.user.id),
    recentActivity(c.var.deps.db, session.user.id),
  ]);
  return c.html(
    <AccountPage
      csrf={csrfToken(c)}
      userName={session.user.name}
      email={session.user.email}
      apps={apps}
      clients={owned.map((client) => ({ id: client.id, name: client.name, redirectUris: client.redirectUris }))}
      activity={activity}
    />,
  );
});

const grantParam = z.object({ id: z.string().min(1).max(GRANT_ID_MAX_LENGTH) });

account.post(
  '/apps/:id/revoke',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  verifyCsrf,
  async function revokeApp(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const param = grantParam.safeParse(c.req.param());
    // Deleting the grant ends every code and token issued under it (bearer checks the grant).
    if (!param.success || !(await revokeGrantOfUser(c.var.deps, session.user.id, param.data.id))) {
      throw new PageError('Not found', 'You have not authorized such an app.', 404);
    }
    return c.redirect('/account', 303);
  },
);
