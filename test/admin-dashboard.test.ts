import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import uplotScript from '../node_modules/uplot/dist/uPlot.iife.min.js?raw';
import { app } from '../src/app';
import { DASHBOARD_WEEK_HOURS } from '../src/config';
import worker from '../src/index';
import { signedInAdmin } from './admin-support';
import { answerOnPages, poll, registerDeviceClient, requestDeviceAuthorization } from './device-support';
import {
  authorizeWithConsent,
  bearer,
  call,
  createUser,
  ISSUER,
  issueTokens,
  json,
  redeem,
  refreshAs,
  registerClient,
  revokeAs,
  signedInBrowser,
  uniqueIp,
  userToken,
} from './helpers';
import { visit } from './replica-support';

const HOUR = 3600;

/** The current hour's counter of an event. */
async function counter(event: string): Promise<number> {
  const hour = Math.floor(Date.now() / 1000 / HOUR) * HOUR;
  const row = await env.DB.prepare('select count from audit_counters where hour = ? and event = ?')
    .bind(hour, event)
    .first<{ count: number }>();
  return row?.count ?? 0;
}

/** Each line of the dashboard's last-24-hours charts ("chart:label") and its total, as GET /api/admin/dashboard shows it. */
async function dashboardTotals(adminToken: string): Promise<Record<string, number>> {
  const response = await call('/api/admin/dashboard', { headers: bearer(adminToken) });
  expect(response.status).toBe(200);
  const { day } = (await response.json()) as { day: { charts: { id: string; series: { label: string; total: number }[] }[] } };
  return Object.fromEntries(day.charts.flatMap((chart) => chart.series.map((line) => [`${chart.id}:${line.label}`, line.total])));
}

/** The rows the session lookup and the admin check may read on any admin page, beside the page's own reads. */
const PAGE_OVERHEAD_ROWS = 5;

/**
 * env.DB, adding up the rows D1 says each statement read (`meta.rows_read`),
 * through the binding, its batches and its read sessions alike. Drizzle reads
 * rows with `raw()`, which drops the meta: a SELECT run that way is run once
 * more through `all()`, for its count.
 */
function rowCountingD1() {
  let rowsRead = 0;
  const note = <T extends D1Result>(result: T): T => {
    rowsRead += result.meta.rows_read;
    return result;
  };
  const unwrapped = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
    // Only a read may run twice; a write answered through raw() (RETURNING) is not counted, and the dashboard writes nothing.
    const reads = /^\s*(select|with)\b/i.test(sql);
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), sql),
      all: () => statement.all().then(note),
      run: () => statement.run().then(note),
      first: async (column?: string) => {
        if (reads) note(await statement.all());
        return column === undefined ? statement.first() : statement.first(column);
      },
      raw: async (options?: { columnNames?: boolean }) => {
        if (reads) note(await statement.all());
        return statement.raw(options as { columnNames: true });
      },
    };
    unwrapped.set(wrapped, statement);
    return wrapped as unknown as D1PreparedStatement;
  };
  const counted = (target: Pick<D1Database, 'prepare' | 'batch'>) => ({
    prepare: (sql: string) => wrap(target.prepare(sql), sql),
    batch: async (statements: D1PreparedStatement[]) =>
      (await target.batch(statements.map((statement) => unwrapped.get(statement) ?? statement))).map(note),
  });
  const binding = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === 'prepare' || prop === 'batch') return counted(target)[prop];
      if (prop === 'withSession') {
        return (constraint?: string) => {
          const session = target.withSession(constraint);
          return { ...counted(session), getBookmark: () => session.getBookmark() };
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { binding, rowsRead: () => rowsRead };
}

describe('dashboard counters', () => {
  it('count sign-ins, failures, tokens by grant type and registrations in the statement of each event', async () => {
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

  it('each line of the charts moves with its event: revocations, device codes, replays, rate-limited and refused sign-ins, server errors', async () => {
    const { admin } = await signedInAdmin();
    const adminToken = await userToken(admin);
    const before = await dashboardTotals(adminToken);
    const user = await createUser();
    const ownerToken = await userToken(await createUser());
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'] });
    const browser = await signedInBrowser(user);

    // Revoked at /oauth2/revoke: an access token (a revoked_tokens row) and a refresh token (its grant).
    const revoked = await issueTokens(browser, client, { scope: 'openid offline_access' });
    await revokeAs(client, revoked.access_token);
    await revokeAs(client, revoked.refresh_token as string);
    // A rotated refresh token used again, and a code redeemed twice.
    const rotated = await issueTokens(browser, client, { scope: 'openid offline_access' });
    expect((await refreshAs(client, rotated.refresh_token as string)).status).toBe(200);
    expect((await refreshAs(client, rotated.refresh_token as string)).status).toBe(400);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'openid' });
    expect((await redeem(client, authorization)).status).toBe(200);
    expect((await redeem(client, authorization)).status).toBe(400);
    // A device code redeemed.
    const device = await registerDeviceClient(ownerToken);
    const started = (await (await requestDeviceAuthorization(device, { scope: 'books:read' })).json()) as {
      device_code: string;
      user_code: string;
    };
    await answerOnPages(browser, started.user_code, 'allow');
    expect((await poll(device, started.device_code)).status).toBe(200);
    // Wrong passwords from one address until the limit answers 429 (audited once), and a disabled user's right password.
    const ip = uniqueIp();
    let failures = 0;
    for (let status = 0; status !== 429 && failures < 30; failures++) {
      status = (await json('/api/login', { email: user.email, password: `guess ${failures}` }, { headers: { 'CF-Connecting-IP': ip } }))
        .status;
    }
    const refused = await createUser();
    await env.DB.prepare('update users set disabled_at = 1 where id = ?').bind(refused.id).run();
    expect((await json('/api/login', { email: refused.email, password: refused.password })).status).toBe(403);
    // An unexpected error: a sign-up whose insert fails in D1 (a 500), counted after the response.
    const failing = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === 'prepare') {
          return (sql: string) => {
            if (/^insert into "users"/.test(sql)) throw new Error('D1_ERROR: disk I/O error');
            return target.prepare(sql);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const ctx = createExecutionContext();
    const signUp = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: `e${Date.now()}@example.com`, password: 'long enough pw', name: 'E' }),
    };
    const errored = await app.request(`${ISSUER}/api/users`, signUp, { ...env, DB: failing }, ctx);
    expect(errored.status).toBe(500);
    await waitOnExecutionContext(ctx);

    const after = await dashboardTotals(adminToken);
    const moved = Object.fromEntries(Object.keys(after).map((line) => [line, after[line]! - (before[line] ?? 0)]));
    expect(moved).toMatchObject({
      'revocations:Access tokens revoked': 1,
      'revocations:Grants revoked': 1,
      'reuse:Refresh token reuse': 1,
      'reuse:Code replay': 1,
      'tokens:device_code': 1,
      'tokens:authorization_code': 3,
      'tokens:refresh_token': 1,
      'sign-ins:Rate-limited': 1,
      'errors:Server errors': 1,
    });
    expect(failures).toBeLessThan(30);
    // Failed: every wrong password (the one that reached the limit is counted too), and the disabled user's refused sign-in.
    expect(moved['sign-ins:Failed']).toBe(failures + 1);
  });

  it('GET /admin reads a bounded number of D1 rows, whatever the size of the audit log', async () => {
    const { browser } = await signedInAdmin();
    const counting = rowCountingD1();
    // The whole page, as the Worker serves it (session, role, dashboard), over a binding that adds up D1's rows_read.
    const pageRowsRead = async () => {
      const before = counting.rowsRead();
      const response = await visit(browser, '/admin', { ...env, DB: counting.binding });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('data-dashboard=');
      return counting.rowsRead() - before;
    };
    const windowCounters = async () => {
      const since = Math.floor(Date.now() / 1000 / HOUR) * HOUR - (DASHBOARD_WEEK_HOURS - 1) * HOUR;
      const row = await env.DB.prepare('select count(*) as n from audit_counters where hour >= ?').bind(since).first<{ n: number }>();
      return row?.n ?? 0;
    };
    const first = await pageRowsRead();
    const countersBefore = await windowCounters();
    // Five thousand more events over the last week, of one type: the log grows, the counters by at most one row an hour.
    const user = await createUser();
    const now = Math.floor(Date.now() / 1000);
    const statements = Array.from({ length: 50 }, (_, i) =>
      env.DB.prepare(
        `insert into audit_events (at, type, user_id) select ?, 'sign_in_failed', ? from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 100) select i from n)`,
      ).bind(now - i * 3 * HOUR, user.id),
    );
    await env.DB.batch(statements);
    expect(await counter('sign_in_failed')).toBeGreaterThanOrEqual(100);
    const second = await pageRowsRead();
    const countersAfter = await windowCounters();
    expect(countersAfter - countersBefore).toBeLessThanOrEqual(50);
    // Nothing of the log is read: the page reads the week's counters (an index range), plus a few rows for the session.
    expect(second).toBeLessThanOrEqual(first + (countersAfter - countersBefore));
    expect(second).toBeLessThanOrEqual(countersAfter + PAGE_OVERHEAD_ROWS);
    expect(second).toBeGreaterThanOrEqual(countersAfter);
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
