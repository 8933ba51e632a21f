import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { EXPIRED_ROW_RETENTION } from '../src/config';
import worker from '../src/index';
import { basic, createUser, form, issueTokens, registerClient, signedInBrowser, userToken } from './helpers';

// What grows with use and what the Cron Trigger deletes (docs/scaling.md):
// every code flow leaves a code, every refresh a refresh token, every sign-in
// a session or a user API token. Rows that expired more than
// EXPIRED_ROW_RETENTION ago go; everything still usable, or expired more
// recently, stays.

async function runCron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '0 3 1 * *', scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** Rows of `table` for the user, by the column that names them. */
async function countOf(table: string, userId: string): Promise<number> {
  const row = await env.DB.prepare(`select count(*) as n from ${table} where user_id = ?`).bind(userId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** A user with a session, a user API token, a redeemed code and a refresh token family two tokens long. */
async function userWithHistory() {
  const user = await createUser();
  const client = await registerClient(await userToken(user), { grant_types: ['authorization_code', 'refresh_token'] });
  const browser = await signedInBrowser(user);
  const tokens = await issueTokens(browser, client, { scope: 'openid books:read offline_access' });
  const response = await fetchToken(client, tokens.refresh_token as string);
  expect(response.status).toBe(200);
  const rotated = (await response.json()) as { refresh_token: string; access_token: string };
  return { user, client, browser, refreshToken: rotated.refresh_token, accessToken: rotated.access_token };
}

function fetchToken(client: { client_id: string; client_secret?: string }, refreshToken: string) {
  return form(
    '/oauth2/token',
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    { Authorization: basic(client.client_id, client.client_secret!) },
  );
}

/** Moves every expiry of the user's rows `seconds` into the past. */
async function age(userId: string, seconds: number): Promise<void> {
  await env.DB.batch(
    ['codes', 'refresh_tokens', 'sessions', 'user_api_tokens'].map((table) =>
      env.DB.prepare(`update ${table} set expires_at = ? where user_id = ?`).bind(Math.floor(Date.now() / 1000) - seconds, userId),
    ),
  );
}

describe('the Cron Trigger deletes rows past their use', () => {
  it('codes, refresh tokens, sessions and user API tokens expired longer than EXPIRED_ROW_RETENTION ago', async () => {
    const old = await userWithHistory();
    const recent = await userWithHistory();
    const live = await userWithHistory();
    for (const table of ['codes', 'refresh_tokens', 'sessions', 'user_api_tokens']) {
      for (const { user } of [old, recent, live]) expect(await countOf(table, user.id), table).toBeGreaterThan(0);
    }
    await age(old.user.id, EXPIRED_ROW_RETENTION + 60);
    await age(recent.user.id, EXPIRED_ROW_RETENTION - 60);
    const before = {
      codes: await countOf('codes', live.user.id),
      refresh_tokens: await countOf('refresh_tokens', live.user.id),
    };

    await runCron();

    for (const table of ['codes', 'refresh_tokens', 'sessions', 'user_api_tokens']) {
      expect(await countOf(table, old.user.id), `${table} of the old user`).toBe(0);
      expect(await countOf(table, recent.user.id), `${table} expired recently`).toBeGreaterThan(0);
    }
    expect(await countOf('codes', live.user.id)).toBe(before.codes);
    expect(await countOf('refresh_tokens', live.user.id)).toBe(before.refresh_tokens);
    // The old user's grant stands (it is their consent); only its expired tokens went.
    expect(await env.DB.prepare('select count(*) as n from grants where user_id = ?').bind(old.user.id).first<{ n: number }>()).toEqual({
      n: 1,
    });
    // What is live still works: the refresh token, the session.
    expect((await fetchToken(live.client, live.refreshToken)).status).toBe(200);
    expect((await live.browser.get('/account')).status).toBe(200);
  });
});

describe('the prune finds expired rows by index, not by reading each table whole', () => {
  for (const table of [
    'codes',
    'refresh_tokens',
    'sessions',
    'user_api_tokens',
    'webauthn_challenges',
    'pending_sign_ins',
    'upstream_requests_used',
  ]) {
    it(`deletes from ${table} through an index on expires_at`, async () => {
      const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN DELETE FROM ${table} WHERE expires_at < ?`).bind(0).all<{ detail: string }>();
      const details = plan.results.map((row) => row.detail).join('\n');
      expect(details).toMatch(new RegExp(`USING (COVERING )?INDEX ${table}_expires_idx`));
    });
  }
});

describe('the Cron Trigger deletes used upstream requests past their expiry', () => {
  it('an expired used-request row goes, an unexpired one stays', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = crypto.randomUUID();
    const live = crypto.randomUUID();
    await env.DB.batch([
      env.DB.prepare('insert into upstream_requests_used (id, expires_at) values (?, ?)').bind(expired, now - EXPIRED_ROW_RETENTION - 60),
      env.DB.prepare('insert into upstream_requests_used (id, expires_at) values (?, ?)').bind(live, now + 600),
    ]);

    await runCron();

    const left = await env.DB.prepare('select id from upstream_requests_used where id in (?, ?)').bind(expired, live).all<{ id: string }>();
    expect(left.results.map((row) => row.id)).toEqual([live]);
  });
});
