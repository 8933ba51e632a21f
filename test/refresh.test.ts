import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../src/lib/crypto';
import {
  type Browser,
  basic,
  bearer,
  call,
  createUser,
  decodeJwt,
  expectJsonError,
  form,
  issueTokens as issueBaseTokens,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TokenResponseBody,
  userToken,
} from './helpers';

const WITH_REFRESH = { grant_types: ['authorization_code', 'refresh_token'] };

type Tokens = TokenResponseBody & { refresh_token?: string };

async function issueTokens(...args: Parameters<typeof issueBaseTokens>): Promise<Tokens> {
  return (await issueBaseTokens(...args)) as Tokens;
}

function refresh(client: RegisteredClient, refreshToken: string, extra: Record<string, string> = {}) {
  const fields = { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra };
  if (client.client_secret) return form('/oauth2/token', fields, { Authorization: basic(client.client_id, client.client_secret) });
  return form('/oauth2/token', { client_id: client.client_id, ...fields });
}

async function expectRefreshed(response: Response): Promise<Tokens> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('Cache-Control')).toBe('no-store');
  const body = JSON.parse(text) as Tokens;
  expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return body;
}

describe('POST /oauth2/token (refresh_token)', () => {
  let browser: Browser;
  let ownerToken: string;

  beforeAll(async () => {
    const user = await createUser();
    ownerToken = await userToken(user);
    browser = await signedInBrowser(user);
  });

  describe('issuance', () => {
    it('gives a public client a refresh token only when offline_access is granted', async () => {
      const spa = await registerClient(ownerToken, { ...WITH_REFRESH, token_endpoint_auth_method: 'none' });
      const without = await issueTokens(browser, spa, { scope: 'books:read' });
      expect(without.refresh_token).toBeUndefined();
      const withOffline = await issueTokens(browser, spa, { scope: 'books:read offline_access' });
      expect(withOffline.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('gives a confidential client that registered the grant a refresh token', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      expect((await issueTokens(browser, app, { scope: 'books:read' })).refresh_token).toBeDefined();
    });

    it('gives none to a client not registered for refresh_token, and refuses the grant from it', async () => {
      const app = await registerClient(ownerToken);
      const tokens = await issueTokens(browser, app, { scope: 'books:read offline_access' });
      expect(tokens.refresh_token).toBeUndefined();
      await expectJsonError(await refresh(app, 'A'.repeat(43)), 400, 'unauthorized_client');
    });

    it('stores only the hash of a refresh token', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      const rows = await env.DB.prepare('select * from refresh_tokens where client_id = ?').bind(app.client_id).all();
      expect(rows.results).toHaveLength(1);
      expect(JSON.stringify(rows.results)).not.toContain(refresh_token!);
      expect(rows.results[0]!.hash).toBe(await hashSecret(refresh_token!));
    });
  });

  describe('rotation', () => {
    it('rotates on every use: a new refresh token, a working access token, the old token spent', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const first = await issueTokens(browser, app, { scope: 'books:read' });
      const second = await expectRefreshed(await refresh(app, first.refresh_token!));
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(second).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'books:read' });
      expect((await call('/api/books', { headers: bearer(second.access_token) })).status).toBe(200);
      const third = await expectRefreshed(await refresh(app, second.refresh_token!));
      expect(third.refresh_token).not.toBe(second.refresh_token);
    });

    it('treats reuse of a rotated token as theft: invalid_grant, and the newest tokens die too', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const first = await issueTokens(browser, app, { scope: 'books:read' });
      const second = await expectRefreshed(await refresh(app, first.refresh_token!));
      // The attacker (or the victim) replays the first token.
      await expectJsonError(await refresh(app, first.refresh_token!), 400, 'invalid_grant');
      await expectJsonError(await refresh(app, second.refresh_token!), 400, 'invalid_grant');
      await expectJsonError(await call('/api/books', { headers: bearer(second.access_token) }), 401, 'invalid_token');
      await expectJsonError(await call('/api/books', { headers: bearer(first.access_token) }), 401, 'invalid_token');
    });

    it('lets exactly one of two concurrent uses of the same token succeed', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      const responses = await Promise.all([refresh(app, refresh_token!), refresh(app, refresh_token!)]);
      expect(responses.map((response) => response.status).sort()).toEqual([200, 400]);
      await expectJsonError(responses.find((response) => response.status === 400)!, 400, 'invalid_grant');
      // Exactly one successor was ever minted.
      const rows = await env.DB.prepare('select count(*) as n from refresh_tokens where parent_hash = ?')
        .bind(await hashSecret(refresh_token!))
        .first<{ n: number }>();
      expect(rows?.n ?? 0).toBeLessThanOrEqual(1);
    });

    it('narrows the access token scope on request and keeps the refresh token scope', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const first = await issueTokens(browser, app, { scope: 'books:read books:write' });
      const narrow = await expectRefreshed(await refresh(app, first.refresh_token!, { scope: 'books:read' }));
      expect(narrow.scope).toBe('books:read');
      expect(decodeJwt(narrow.access_token).payload.scope).toBe('books:read');
      await expectJsonError(await call('/api/books', { method: 'POST', headers: bearer(narrow.access_token) }), 403, 'insufficient_scope');
      const full = await expectRefreshed(await refresh(app, narrow.refresh_token!));
      expect(full.scope).toBe('books:read books:write');
    });

    it('never widens the scope, and a refused widening spends nothing', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const first = await issueTokens(browser, app, { scope: 'books:read' });
      await expectJsonError(await refresh(app, first.refresh_token!, { scope: 'books:read books:write' }), 400, 'invalid_scope');
      await expectJsonError(await refresh(app, first.refresh_token!, { scope: 'no-such-scope' }), 400, 'invalid_scope');
      await expectRefreshed(await refresh(app, first.refresh_token!));
    });

    it('refuses another client’s refresh token without spending it', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const other = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      await expectJsonError(await refresh(other, refresh_token!), 400, 'invalid_grant');
      await expectRefreshed(await refresh(app, refresh_token!));
    });

    it('refuses an unknown token and a malformed request', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      await expectJsonError(await refresh(app, 'A'.repeat(43)), 400, 'invalid_grant');
      const missing = await form(
        '/oauth2/token',
        { grant_type: 'refresh_token' },
        { Authorization: basic(app.client_id, app.client_secret!) },
      );
      await expectJsonError(missing, 400, 'invalid_request');
    });
  });

  describe('expiry', () => {
    it('refuses a token past its idle expiry', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      await env.DB.prepare('update refresh_tokens set expires_at = 1 where hash = ?')
        .bind(await hashSecret(refresh_token!))
        .run();
      await expectJsonError(await refresh(app, refresh_token!), 400, 'invalid_grant');
    });

    it('slides the idle expiry on rotation but never past the absolute cap', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      const hash = await hashSecret(refresh_token!);
      const first = await env.DB.prepare('select expires_at, absolute_expires_at from refresh_tokens where hash = ?')
        .bind(hash)
        .first<{ expires_at: number; absolute_expires_at: number }>();
      expect(first!.absolute_expires_at - first!.expires_at).toBe(60 * 24 * 60 * 60); // 90 days absolute, 30 idle
      const cap = Math.floor(Date.now() / 1000) + 120;
      await env.DB.prepare('update refresh_tokens set absolute_expires_at = ? where hash = ?').bind(cap, hash).run();
      const next = await expectRefreshed(await refresh(app, refresh_token!));
      const row = await env.DB.prepare('select expires_at, absolute_expires_at from refresh_tokens where hash = ?')
        .bind(await hashSecret(next.refresh_token!))
        .first<{ expires_at: number; absolute_expires_at: number }>();
      expect(row).toEqual({ expires_at: cap, absolute_expires_at: cap });
    });

    it('refuses a token past its absolute expiry', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const { refresh_token } = await issueTokens(browser, app, { scope: 'books:read' });
      await env.DB.prepare('update refresh_tokens set absolute_expires_at = 1 where hash = ?')
        .bind(await hashSecret(refresh_token!))
        .run();
      await expectJsonError(await refresh(app, refresh_token!), 400, 'invalid_grant');
    });
  });

  describe('OpenID Connect on refresh', () => {
    it('returns an ID token with the original auth_time and no nonce (OIDC Core §12.2)', async () => {
      const app = await registerClient(ownerToken, WITH_REFRESH);
      const first = await issueTokens(browser, app, { scope: 'openid books:read', nonce: 'n-123' });
      const original = decodeJwt(first.id_token!).payload;
      expect(original.nonce).toBe('n-123');
      const next = await expectRefreshed(await refresh(app, first.refresh_token!));
      const claims = decodeJwt(next.id_token!).payload;
      expect(claims).toMatchObject({ sub: original.sub, aud: app.client_id, auth_time: original.auth_time });
      expect(claims).not.toHaveProperty('nonce');
    });
  });
});
