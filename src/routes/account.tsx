import { Hono } from 'hono';
import { z } from 'zod';
import { GRANT_ID_MAX_LENGTH } from '../config';
import { primaryWrite } from '../deps';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { writeBookmarkCookie } from '../helpers/cookies';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession, sessionForReading } from '../middleware/session';
import { revokeGrantOfUser } from '../services/grants';
import { listPasskeys } from '../services/passkeys';
import { sessionsOfUser } from '../services/sessions-list';
import { twoFactorStatus } from '../services/totp';
import { linkedProvidersOf } from '../services/upstream-accounts';
import { recentActivity } from '../storage/audit';
import { listClientsOfOwner } from '../storage/clients';
import { listGrantsOfUser } from '../storage/grants';
import { AccountPage } from '../views/account';
import { developerClient } from '../views/account-clients';

/** The signed-in user's page: the apps they authorized (each revocable) and the clients they registered. */
export const account = new Hono<AppEnv>();

// The page reads at a D1 read replica (the session and the lists), at least
// as fresh as the browser's last write; its writes go to the primary and keep
// their bookmark in the browser (read-your-writes).
account.get('/', async function accountPage(c) {
  const { session, db } = await sessionForReading(c);
  c.set('session', session);
  if (!session) return c.redirect('/login?return_to=%2Faccount', 302);
  const [apps, owned, activity, passkeys, sessions, twoFactor, providers] = await Promise.all([
    listGrantsOfUser(db, session.user.id),
    listClientsOfOwner(db, session.user.id),
    recentActivity(db, session.user.id),
    listPasskeys(db, session.user.id),
    sessionsOfUser(db, session.user.id, session.idHash),
    twoFactorStatus(db, session.user.id),
    linkedProvidersOf(db, c.env, session.user.id),
  ]);
  return c.html(
    <AccountPage
      csrf={csrfToken(c)}
      userName={session.user.name}
      email={session.user.email}
      apps={apps}
      clients={owned.map(developerClient)}
      sessions={sessions}
      emailVerified={session.user.emailVerifiedAt !== null}
      activity={activity}
      passkeys={passkeys}
      twoFactor={twoFactor}
      providers={providers}
    />,
  );
});

const grantParam = z.object({ id: z.string().min(1).max(GRANT_ID_MAX_LENGTH) });

account.post(
  '/apps/:id/revoke',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  loadSession,
  verifyCsrf,
  async function revokeApp(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const param = grantParam.safeParse(c.req.param());
    // Deleting the grant ends every code and token issued under it (bearer checks the grant).
    // Written through a primary session, whose bookmark the browser keeps: the
    // page it goes back to reads at a replica that has the revocation.
    const write = primaryWrite(c.var.deps);
    if (!param.success || !(await revokeGrantOfUser({ ...c.var.deps, db: write.db }, session.user.id, param.data.id))) {
      throw new PageError('Not found', 'You have not authorized such an app.', 404);
    }
    writeBookmarkCookie(c, write.bookmark());
    return c.redirect('/account', 303);
  },
);
