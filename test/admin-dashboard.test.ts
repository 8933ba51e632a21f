import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import uplotScript from '../node_modules/uplot/dist/uPlot.iife.min.js?raw';
import { DASHBOARD_WEEK_HOURS } from '../src/config';
import worker from '../src/index';
import { countersSinceQuery } from '../src/storage/admin-audit';
import { createDb } from '../src/storage/db';
import { signedInAdmin } from './admin-support';
import { bearer, call, createUser, issueTokens, json, registerClient, signedInBrowser, userToken } from './helpers';

const HOUR = 3600;

/** The current hour's counter of an event. */
async function counter(event: string): Promise<number> {
  const hour = Math.floor(Date.now() / 1000 / HOUR) * HOUR;
  const row = await env.DB.prepare('select count from audit_counters where hour = ? and event = ?')
    .bind(hour, event)
    .first<{ count: number }>();
  return row?.count ?? 0;
}

describe('dashboard counters', () => {
  it('count sign-ins, failures, tokens by grant type, revocations and registrations in the statement of each event', async () => {
    const before = {
      signIn: await counter('sign_in'),
      failed: await counter('sign_in_failed'),
      code: await counter('token_authorization_code'),
      refresh: await counter('token_refresh_token'),
      users: await counter('user_registered'),
      clients: await counter('client_created'),
    };
    const user = await createUser();
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), { grant_types: ['authorization_code', 'refresh_token'] });
    expect((await json('/api/login', { email: user.email, password: 'not the password' })).status).toBe(401);
    const browser = await signedInBrowser(user);
    const tokens = await issueTokens(browser, client, { scope: 'openid offline_access' });
    const refreshed = await call('/oauth2/token', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }).toString(),
    });
    expect(refreshed.status).toBe(200);

    // Other suites run in parallel in the same database: at least ours.
    expect(await counter('sign_in')).toBeGreaterThanOrEqual(before.signIn + 2);
    expect(await counter('sign_in_failed')).toBeGreaterThanOrEqual(before.failed + 1);
    expect(await counter('token_authorization_code')).toBeGreaterThanOrEqual(before.code + 1);
    expect(await counter('token_refresh_token')).toBeGreaterThanOrEqual(before.refresh + 1);
    expect(await counter('user_registered')).toBeGreaterThanOrEqual(before.users + 2);
    expect(await counter('client_created')).toBeGreaterThanOrEqual(before.clients + 1);

    const { browser: adminBrowser } = await signedInAdmin();
    const page = await (await adminBrowser.get('/admin')).text();
    const signIns = /data-total="day:sign-ins:Succeeded">(\d+)</.exec(page)?.[1];
    expect(Number(signIns)).toBeGreaterThanOrEqual(before.signIn + 3);
  });

  it('reading the dashboard reads a bounded number of rows, whatever the size of the audit log', async () => {
    const db = createDb(env.DB);
    const since = Math.floor(Date.now() / 1000 / HOUR) * HOUR - (DASHBOARD_WEEK_HOURS - 1) * HOUR;
    const rowsRead = async () => {
      const query = countersSinceQuery(db, since).toSQL();
      const result = await env.DB.prepare(query.sql)
        .bind(...query.params)
        .all();
      return { read: result.meta.rows_read, rows: result.results.length };
    };
    const first = await rowsRead();
    // Five thousand more events this hour, of one type: the log grows, the counters do not.
    const user = await createUser();
    const now = Math.floor(Date.now() / 1000);
    const statements = Array.from({ length: 50 }, () =>
      env.DB.prepare(
        `insert into audit_events (at, type, user_id) select ?, 'sign_in_failed', ? from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 100) select i from n)`,
      ).bind(now, user.id),
    );
    await env.DB.batch(statements);
    const second = await rowsRead();
    expect(second.rows).toBe(first.rows);
    // The read is an index range over the counters' primary key: no more rows than it returns, plus the range's end.
    expect(second.read).toBeLessThanOrEqual(second.rows + 1);
    expect(second.read).toBeLessThanOrEqual(first.read + 1);
    expect(await counter('sign_in_failed')).toBeGreaterThanOrEqual(5000);
  });
});

describe('retention', () => {
  it('the Cron Trigger deletes audit events and counters older than AUDIT_RETENTION_DAYS, and keeps the rest', async () => {
    const user = await createUser();
    const now = Math.floor(Date.now() / 1000);
    const old = now - 91 * 24 * HOUR;
    const recent = now - 89 * 24 * HOUR;
    await env.DB.batch([
      env.DB.prepare(`insert into audit_events (at, type, user_id) values (?, 'sign_in', ?), (?, 'sign_in', ?)`).bind(
        old,
        user.id,
        recent,
        user.id,
      ),
    ]);
    const counters = () =>
      env.DB.prepare('select hour from audit_counters where hour in (?, ?) and event = ?')
        .bind(Math.floor(old / HOUR) * HOUR, Math.floor(recent / HOUR) * HOUR, 'sign_in')
        .all<{ hour: number }>();
    expect((await counters()).results).toHaveLength(2);

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 * * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);

    const events = await env.DB.prepare('select at from audit_events where user_id = ? order by at').bind(user.id).all<{ at: number }>();
    expect(events.results.map((row) => row.at)).toEqual([recent, ...events.results.slice(1).map((row) => row.at)]);
    expect(events.results.some((row) => row.at === old)).toBe(false);
    expect((await counters()).results.map((row) => row.hour)).toEqual([Math.floor(recent / HOUR) * HOUR]);
  });

  it('AUDIT_RETENTION_DAYS sets the age; a value that is not a whole number of days keeps the default', async () => {
    const { auditRetention } = await import('../src/services/retention');
    expect(auditRetention({})).toBe(90 * 24 * HOUR);
    expect(auditRetention({ AUDIT_RETENTION_DAYS: '30' })).toBe(30 * 24 * HOUR);
    for (const bad of ['0', '-5', '1.5', 'ninety', '', '99999'])
      expect(auditRetention({ AUDIT_RETENTION_DAYS: bad }), bad).toBe(90 * 24 * HOUR);
  });
});

describe('chart library', () => {
  it('serves uPlot exactly as the pinned npm package ships it, with the security headers, and nothing else under /static/admin', async () => {
    const script = await call('/static/admin/uPlot.iife.min.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('Content-Type')).toContain('javascript');
    expect(script.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(await script.text()).toBe(uplotScript);
    // (Vite turns a CSS ?raw import into nothing, so the stylesheet is checked by its content.)
    expect(await (await call('/static/admin/uPlot.min.css')).text()).toMatch(/^\.uplot, \.uplot \*/);
    expect((await call('/static/admin/dashboard.js')).status).toBe(200);
    expect((await call('/static/admin/other.js')).status).toBe(404);
  });

  it('the dashboard page keeps the strict CSP: scripts from this origin only, none inline', async () => {
    const { browser } = await signedInAdmin();
    const response = await browser.get('/admin');
    const csp = response.headers.get('Content-Security-Policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    for (const match of html.matchAll(/<script([^>]*)>/g)) expect(match[1]).toMatch(/src="\/static\/admin\//);
  });

  it('the admin API dashboard needs an admin', async () => {
    const user = await createUser();
    expect((await call('/api/admin/dashboard', { headers: bearer(await userToken(user)) })).status).toBe(403);
  });
});
