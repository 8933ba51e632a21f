import { Hono } from 'hono';
import { z } from 'zod';
import { primaryWrite } from '../deps';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { writeBookmarkCookie } from '../helpers/cookies';
import { limitBody, requireContentType } from '../middleware/body';
import { verifyCsrf } from '../middleware/csrf';
import { loadSession } from '../middleware/session';
import { endSessionOfUser } from '../services/sessions-list';

/** POST /account/sessions/:ref/end: **End session** on one of the user's other sessions (the list on /account). */
export const accountSessions = new Hono<AppEnv>();

/** A session reference is 22 base64url characters (services/sessions-list.ts). */
const sessionParam = z.object({ ref: z.string().regex(/^[A-Za-z0-9_-]{22}$/) });

accountSessions.post(
  '/:ref/end',
  limitBody,
  requireContentType('application/x-www-form-urlencoded'),
  loadSession,
  verifyCsrf,
  async function endOtherSession(c) {
    const session = c.var.session;
    if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
    const param = sessionParam.safeParse(c.req.param());
    // Only the user's own sessions are looked at: another user's reference matches none of them.
    // Written through a primary session whose bookmark the browser keeps, so
    // /account (read at a replica) no longer lists the ended session.
    const write = primaryWrite(c.var.deps);
    if (!param.success || !(await endSessionOfUser({ ...c.var.deps, db: write.db }, session.user.id, param.data.ref))) {
      throw new PageError('Not found', 'You have no such session.', 404);
    }
    writeBookmarkCookie(c, write.bookmark());
    return c.redirect('/account', 303);
  },
);
