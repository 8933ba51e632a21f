import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS_CLIENT_IDLE_TTL } from '../src/config';
import worker from '../src/index';
import { adminAction, auditEventsOf, signedInAdmin } from './admin-support';
import { DOCUMENT_CALLBACK, documentClient, fetchesOf } from './client-metadata-support';
import {
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  createUser,
  expectErrorPage,
  expectJsonError,
  pkce,
  redeem,
  refreshAs,
  signedInBrowser,
} from './helpers';

// What an admin disabled fails cleanly: a client ID metadata document client
// is refused as any disabled client is (invalid_client, never a 500, and its
// document is not fetched again), and a disabled user's session cookie opens
// nothing, even where a session row outlived the disable.

const CALLBACK = DOCUMENT_CALLBACK;

async function startAuthorization(browser: Browser, clientId: string) {
  const { challenge } = await pkce();
  return browser.get(
    authorizeUrl({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'openid books:read',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    }),
  );
}

describe('a disabled client ID metadata document client', () => {
  it('is invalid_client (401) at the token endpoint for a code and a refresh token, refused at authorize, and its document is not fetched again', async () => {
    const { browser: adminBrowser } = await signedInAdmin();
    const browser = await signedInBrowser(await createUser());
    const client = documentClient();
    const first = await redeem(client, await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' }));
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as { refresh_token: string };
    const pending = await authorizeWithConsent(browser, client, { scope: 'openid books:read' });

    const disabled = await adminAction(adminBrowser, `/admin/clients/${encodeURIComponent(client.client_id)}/disable`);
    expect(disabled.status).toBe(303);
    const fetches = await fetchesOf(client.client_id);

    await expectJsonError(await refreshAs(client, tokens.refresh_token), 401, 'invalid_client');
    await expectJsonError(await redeem(client, pending), 401, 'invalid_client');
    await expectErrorPage(await startAuthorization(browser, client.client_id));

    // Refused from D1 alone: no fetch of the document, its row not rewritten, no second client_created.
    expect(await fetchesOf(client.client_id)).toBe(fetches);
    expect(await auditEventsOf('client_created', { clientId: client.client_id })).toHaveLength(1);
    const row = await env.DB.prepare('select count(*) as n from disabled_clients where client_id = ?')
      .bind(client.client_id)
      .first<{ n: number }>();
    expect(row?.n).toBe(1);

    // Enabled again, it works again.
    expect((await adminAction(adminBrowser, `/admin/clients/${encodeURIComponent(client.client_id)}/enable`)).status).toBe(303);
    expect((await refreshAs(client, tokens.refresh_token)).status).toBe(200);
  });
});

describe('deleting a disabled client ID metadata document client', () => {
  /** The rows that keep the client, its disabled mark, and what was issued to it. */
  async function rowsOf(clientId: string) {
    const count = async (table: string) =>
      (await env.DB.prepare(`select count(*) as n from ${table} where client_id = ?`).bind(clientId).first<{ n: number }>())?.n;
    return {
      client: await env.DB.prepare('select count(*) as n from clients where id = ?')
        .bind(clientId)
        .first<{ n: number }>()
        .then((r) => r?.n),
      disabled: await count('disabled_clients'),
      grants: await count('grants'),
      refreshTokens: await count('refresh_tokens'),
    };
  }

  it('takes what was issued to it but keeps it disabled: its URL is refused at authorize and its document is not fetched again, even by the Cron Trigger', async () => {
    const { browser: adminBrowser } = await signedInAdmin();
    const browser = await signedInBrowser(await createUser());
    const client = documentClient();
    const path = `/admin/clients/${encodeURIComponent(client.client_id)}`;
    const issued = await redeem(client, await authorizeWithConsent(browser, client, { scope: 'openid books:read offline_access' }));
    expect(issued.status).toBe(200);
    const tokens = (await issued.json()) as { refresh_token: string };

    // Offered Delete, the page says what it does to a document client, enabled and disabled.
    expect(await (await adminBrowser.get(path)).text()).toContain('the document is fetched again and the client comes back');
    expect((await adminAction(adminBrowser, `${path}/disable`)).status).toBe(303);
    expect(await (await adminBrowser.get(path)).text()).toContain('so it stays here, disabled');

    const deleted = await adminAction(adminBrowser, `${path}/delete`);
    expect(deleted.status).toBe(303);
    expect(deleted.headers.get('Location')).toBe('/admin/clients');
    expect(await rowsOf(client.client_id)).toEqual({ client: 1, disabled: 1, grants: 0, refreshTokens: 0 });
    expect(await auditEventsOf('client_deleted', { clientId: client.client_id })).toHaveLength(1);
    const fetches = await fetchesOf(client.client_id);

    const refused = await expectErrorPage(await startAuthorization(browser, client.client_id));
    expect(refused).toContain('Unknown app');
    await expectJsonError(await refreshAs(client, tokens.refresh_token), 401, 'invalid_client');

    // Long unused, it is still not swept away with its mark by the daily idle-client sweep.
    await env.DB.prepare('update clients set created_at = ? where id = ?')
      .bind(Math.floor(Date.now() / 1000) - ANONYMOUS_CLIENT_IDLE_TTL - 60, client.client_id)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '0 3 * * *', scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await rowsOf(client.client_id)).toEqual({ client: 1, disabled: 1, grants: 0, refreshTokens: 0 });
    await expectErrorPage(await startAuthorization(browser, client.client_id));

    expect(await fetchesOf(client.client_id)).toBe(fetches);
    expect(await auditEventsOf('client_created', { clientId: client.client_id })).toHaveLength(1);

    // Enabled by an admin, its document is fetched and checked afresh (the kept row is stale), and it works.
    expect((await adminAction(adminBrowser, `${path}/enable`)).status).toBe(303);
    expect((await startAuthorization(browser, client.client_id)).status).toBe(200);
    expect(await fetchesOf(client.client_id)).toBe(fetches + 1);
  });

  it('an enabled one is deleted whole, and its next use fetches its document again', async () => {
    const { browser: adminBrowser } = await signedInAdmin();
    const browser = await signedInBrowser(await createUser());
    const client = documentClient();
    expect((await startAuthorization(browser, client.client_id)).status).toBe(200);
    expect((await adminAction(adminBrowser, `/admin/clients/${encodeURIComponent(client.client_id)}/delete`)).status).toBe(303);
    expect(await rowsOf(client.client_id)).toEqual({ client: 0, disabled: 0, grants: 0, refreshTokens: 0 });
    const fetches = await fetchesOf(client.client_id);
    expect((await startAuthorization(browser, client.client_id)).status).toBe(200);
    expect(await fetchesOf(client.client_id)).toBe(fetches + 1);
  });
});

describe("a disabled user's session", () => {
  it('opens no page and no authorization, even when its row outlived the disable', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    expect((await browser.get('/account')).status).toBe(200);
    // Disabled behind the console's back: the disable's batch would have deleted the session row.
    await env.DB.prepare('update users set disabled_at = 1 where id = ?').bind(user.id).run();
    const sessions = await env.DB.prepare('select count(*) as n from sessions where user_id = ?').bind(user.id).first<{ n: number }>();
    expect(sessions?.n).toBeGreaterThan(0);

    const account = await browser.get('/account');
    expect(account.status).toBe(302);
    expect(account.headers.get('Location')).toMatch(/^\/login/);
    // The authorization endpoint asks for a sign-in (RFC 6749 §3.1: it authenticates the resource owner) instead of issuing anything.
    const client = documentClient();
    const authorize = await startAuthorization(browser, client.client_id);
    expect(authorize.status).toBe(302);
    expect(authorize.headers.get('Location')).toMatch(/^\/login/);
    // prompt=none: login_required, back at the client, never a code.
    const { challenge } = await pkce();
    const silent = await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: CALLBACK,
        scope: 'openid',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        prompt: 'none',
      }),
    );
    const location = new URL(silent.headers.get('Location') ?? '', 'http://x');
    expect(location.searchParams.get('error')).toBe('login_required');
    expect(location.searchParams.get('code')).toBeNull();

    // Enabled again, they sign in as before.
    await env.DB.prepare('update users set disabled_at = null where id = ?').bind(user.id).run();
    expect((await (await signedInBrowser(user)).get('/account')).status).toBe(200);
  });
});
