import { env } from 'cloudflare:test';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../src/env';
import { type OAuthError, oauthErrorResponse } from '../src/errors';
import { requireAccessToken } from '../src/middleware/bearer-auth';
import { createDb } from '../src/storage/db';
import { basic, bearer, call, createUser, form, ISSUER, issueTokens, registerClient, signedInBrowser, userToken } from './helpers';

/** A route that opts into the batched grant check and then forgets to run it. */
function forgetfulRoute() {
  const probe = new Hono<AppEnv>();
  probe.use(async (c, next) => {
    c.set('deps', { db: createDb(c.env.DB), env: c.env, issuer: ISSUER });
    await next();
  });
  probe.get('/', requireAccessToken({ scope: 'books:read', batchedGrantCheck: true }), (c) => c.json({ secret: 'leaked' }));
  probe.onError((error) => oauthErrorResponse(error as OAuthError));
  return probe;
}

describe('bearer checks batched with the read (one D1 round trip)', () => {
  it('GET /api/books refuses a revoked token in the same batch as the read', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'books:read' });
    expect((await call('/api/books', { headers: bearer(tokens.access_token) })).status).toBe(200);
    await form('/oauth2/revoke', { token: tokens.access_token }, { Authorization: basic(client.client_id, client.client_secret!) });
    const refused = await call('/api/books', { headers: bearer(tokens.access_token) });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token' });
  });

  it('answers a revoked token without the scope with 401, not 403, on a batched route', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'openid' });
    await form('/oauth2/revoke', { token: tokens.access_token }, { Authorization: basic(client.client_id, client.client_secret!) });
    const refused = await call('/api/books', { headers: bearer(tokens.access_token) });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token' });
  });

  it('still refuses a revoked token when a route forgets to run the check, and leaks nothing', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'books:read' });
    const probe = forgetfulRoute();
    const live = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(live.status).toBe(200);
    await form('/oauth2/revoke', { token: tokens.access_token }, { Authorization: basic(client.client_id, client.client_secret!) });
    const revoked = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(revoked.status).toBe(401);
    expect(await revoked.text()).not.toContain('leaked');
  });
});
