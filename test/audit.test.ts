import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { clearKeyCache } from '../src/services/keys';
import {
  APP_REVOKE_ACTION,
  authorizeWithConsent,
  basic,
  call,
  createUser,
  form,
  formAction,
  hiddenFields,
  json,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

async function eventsOf(userId: string): Promise<{ type: string; client_id: string | null; ip: string | null }[]> {
  const rows = await env.DB.prepare('select type, client_id, ip from audit_events where user_id = ? order by id').bind(userId).all<{
    type: string;
    client_id: string | null;
    ip: string | null;
  }>();
  return rows.results;
}

describe('audit trail', () => {
  it('records sign-ins, consent, revocation, reuse, replay and client lifecycle, and never a secret', async () => {
    const user = await createUser();
    await json('/api/login', { email: user.email, password: 'not my password' }, { headers: { 'CF-Connecting-IP': '203.0.113.7' } });
    const ownerToken = await userToken(user);
    const client = await registerClient(ownerToken, { grant_types: ['authorization_code', 'refresh_token'], client_name: 'Audited App' });
    const browser = await signedInBrowser(user);
    const authorization = await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const tokens = (await (await redeem(client, authorization)).json()) as { refresh_token: string };
    // Code replay revokes the grant.
    expect((await redeem(client, authorization)).status).toBe(400);
    // A new grant, then refresh reuse revokes it.
    const again = (await (await redeem(client, await authorizeWithConsent(browser, client, { scope: 'books:read' }))).json()) as {
      refresh_token: string;
    };
    const refresh = (token: string) =>
      form(
        '/oauth2/token',
        { grant_type: 'refresh_token', refresh_token: token },
        { Authorization: basic(client.client_id, client.client_secret!) },
      );
    expect((await refresh(again.refresh_token)).status).toBe(200);
    expect((await refresh(again.refresh_token)).status).toBe(400);
    // A third grant, revoked on /account.
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const account = await (await browser.get('/account')).text();
    expect((await browser.post(formAction(account, APP_REVOKE_ACTION), hiddenFields(account))).status).toBe(303);
    // And the client is deleted.
    expect(
      (await call(`/api/clients/${client.client_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ownerToken}` } })).status,
    ).toBe(204);

    const events = await eventsOf(user.id);
    const types = events.map((event) => event.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'sign_in_failed',
        'sign_in',
        'client_created',
        'consent_granted',
        'code_replay',
        'refresh_reuse',
        'grant_revoked',
        'client_deleted',
      ]),
    );
    expect(events.find((event) => event.type === 'sign_in_failed')?.ip).toBe('203.0.113.7');
    expect(events.filter((event) => event.type === 'consent_granted').every((event) => event.client_id === client.client_id)).toBe(true);
    const dump = JSON.stringify((await env.DB.prepare('select * from audit_events').all()).results);
    for (const secret of [user.password, client.client_secret!, authorization.code, tokens.refresh_token, again.refresh_token]) {
      expect(dump).not.toContain(secret);
    }
  });

  it('shows the user their recent activity on /account, and only theirs', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), { client_name: 'Activity App' });
    const browser = await signedInBrowser(user);
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const html = await (await browser.get('/account')).text();
    expect(html).toContain('<h2>Recent activity</h2>');
    expect(html).toContain('Signed in');
    expect(html).toContain('Authorized Activity App');
    expect(html).toContain('Registered the client Activity App');
    const stranger = await signedInBrowser(await createUser());
    expect(await (await stranger.get('/account')).text()).not.toContain('Activity App');
  });

  it('records key rotation and prunes events past retention from the Cron Trigger', async () => {
    const user = await createUser();
    await env.DB.prepare("insert into audit_events (at, type, user_id) values (1, 'sign_in', ?)").bind(user.id).run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 1 * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    clearKeyCache();
    const old = await env.DB.prepare('select count(*) as n from audit_events where at = 1').first<{ n: number }>();
    expect(old?.n).toBe(0);
    const rotated = await env.DB.prepare("select count(*) as n from audit_events where type = 'key_rotated'").first<{ n: number }>();
    expect(rotated?.n).toBeGreaterThanOrEqual(1);
  });
});
