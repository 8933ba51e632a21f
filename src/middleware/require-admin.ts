import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { OAuthError, PageError } from '../errors';
import { findAdminUser } from '../storage/admin-users';

/**
 * Guards every admin page: the browser's session (loadSession, before this)
 * must be an enabled admin's. Signed out: to the sign-in page and back;
 * signed in without the role: 403, and nothing of the page is read.
 */
export const requireAdminPage: MiddlewareHandler<AppEnv> = async function requireAdminPage(c, next) {
  const session = c.var.session;
  if (!session) {
    const returnTo = c.req.method === 'GET' ? new URL(c.req.url).pathname : '/admin';
    return c.redirect(`/login?return_to=${encodeURIComponent(returnTo)}`, c.req.method === 'GET' ? 302 : 303);
  }
  if (session.user.role !== 'admin' || session.user.disabledAt !== null) {
    throw new PageError('Admins only', 'This page is for administrators of this server.', 403);
  }
  await next();
};

/**
 * Guards every admin API route: the user API token (requireUserToken, before
 * this) must be an enabled admin's. The role is read from D1 on every call
 * (one round trip: the API is not a hot path), so taking the role away ends
 * its tokens' admin power at once. 403 `access_denied` otherwise.
 */
export const requireAdminToken: MiddlewareHandler<AppEnv> = async function requireAdminToken(c, next) {
  const user = await findAdminUser(c.var.deps.db, c.var.apiUser.userId);
  if (user?.role !== 'admin' || user.disabledAt !== null) {
    throw new OAuthError('access_denied', { status: 403, description: "the admin API needs an admin's user API token" });
  }
  await next();
};
