import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { type Browser, createUser, signedInBrowser, type TestUser } from './helpers';

// Shared by the admin console's tests (test/admin*.test.ts, test/security/admin-*.test.ts).

/** Gives a user the admin role, as `npm run admin -- grant <email>` does. */
export async function makeAdmin(user: TestUser): Promise<void> {
  await env.DB.prepare(`update users set role = 'admin' where id = ?`).bind(user.id).run();
}

/** A new admin, signed in: the user and their browser. */
export async function signedInAdmin(): Promise<{ admin: TestUser; browser: Browser }> {
  const admin = await createUser({ name: 'Grace Admin' });
  await makeAdmin(admin);
  return { admin, browser: await signedInBrowser(admin) };
}

/** The browser's CSRF token: any page that shows a form sets it; loads one first when needed. */
export async function csrfOf(browser: Browser, page = '/admin/users'): Promise<string> {
  if (!browser.cookies.get('tg_csrf')) {
    const response = await browser.get(page);
    await response.text();
  }
  const token = browser.cookies.get('tg_csrf');
  expect(token, 'a CSRF cookie').toBeTruthy();
  return token!;
}

/** POSTs an admin action's form as the console's buttons do (CSRF token included). */
export async function adminAction(browser: Browser, path: string, fields: Record<string, string> = {}): Promise<Response> {
  return browser.post(path, { csrf_token: await csrfOf(browser), ...fields });
}

/** The rows of a user in a table. */
export async function userRow(userId: string) {
  return env.DB.prepare('select role, disabled_at from users where id = ?')
    .bind(userId)
    .first<{ role: string; disabled_at: number | null }>();
}

/** Audit events of a type for a user or client, newest first. */
export async function auditEventsOf(type: string, subject: { userId?: string; clientId?: string }) {
  const column = subject.userId ? 'user_id' : 'client_id';
  const value = subject.userId ?? subject.clientId;
  const { results } = await env.DB.prepare(
    `select type, user_id, client_id, actor_id from audit_events where type = ? and ${column} = ? order by id desc`,
  )
    .bind(type, value)
    .all<{ type: string; user_id: string | null; client_id: string | null; actor_id: string | null }>();
  return results;
}
