import { env } from 'cloudflare:test';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../src/env';
import { type OAuthError, oauthErrorResponse } from '../src/errors';
import { bearerRead } from '../src/helpers/bearer-read';
import { addBook, listBooksQuery } from '../src/storage/books';
import { createDb } from '../src/storage/db';
import { basic, bearer, call, createUser, form, ISSUER, issueTokens, registerClient, signedInBrowser, userToken } from './helpers';
import { setReplicaClock } from './replica-support';

/**
 * A read route made with `bearerRead`, over a D1 binding that records each
 * batch (its number of statements) and whether the route's read was built.
 */
function probeRoute(scope: string) {
  const batches: number[] = [];
  const reads: string[] = [];
  const d1 = new Proxy(env.DB, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'batch') {
        return (list: D1PreparedStatement[]) => {
          batches.push(list.length);
          return value.call(target, list);
        };
      }
      // A read replica's batches (services/replica.ts) are recorded too.
      if (prop === 'withSession') {
        return (constraint?: string) => {
          const session = target.withSession(constraint);
          return {
            prepare: (sql: string) => session.prepare(sql),
            getBookmark: () => session.getBookmark(),
            batch: (list: D1PreparedStatement[]) => {
              batches.push(list.length);
              return session.batch(list);
            },
          };
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const probe = new Hono<AppEnv>();
  probe.use(async (c, next) => {
    c.set('deps', { db: createDb(d1), env: { ...c.env, DB: d1 }, issuer: ISSUER });
    await next();
  });
  probe.get(
    '/',
    bearerRead(
      { scope, user: true },
      (db, token) => {
        reads.push(token.sub);
        return listBooksQuery(db, token.sub);
      },
      (c, rows) => c.json({ titles: rows.map((book) => book.title) }),
    ),
  );
  probe.onError((error) => oauthErrorResponse(error as OAuthError));
  return { probe, batches, reads };
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

  it('bearerRead refuses a revoked token although its read, in the same batch, found rows, and leaks nothing', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'books:read' });
    await addBook(createDb(env.DB), user.id, { title: 'Secret Diary', author: 'Me' });
    await setReplicaClock();
    const { probe, batches } = probeRoute('books:read');
    const live = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ titles: ['Secret Diary'] });
    await form('/oauth2/revoke', { token: tokens.access_token }, { Authorization: basic(client.client_id, client.client_secret!) });
    const revoked = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    const body = await revoked.text();
    expect(JSON.parse(body)).toMatchObject({ error: 'invalid_token' });
    expect(body).not.toContain('Secret Diary');
    // Each call: one batch at a read replica, its clock, the grant check and
    // the read; the revoked token's no is asked again at the primary (the
    // grant check, the read, and the replica clock's set-if-stale).
    expect(batches).toEqual([3, 3, 3]);
  });

  it('bearerRead answers a revoked token without the scope with 401, a standing one with 403, and reads nothing', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const tokens = await issueTokens(await signedInBrowser(user), client, { scope: 'books:read' });
    const { probe, batches, reads } = probeRoute('books:write');
    const standing = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(standing.status).toBe(403);
    expect(await standing.json()).toMatchObject({ error: 'insufficient_scope' });
    // RFC 6750 §3.1: the scope the request needs, in the challenge.
    expect(standing.headers.get('WWW-Authenticate')).toContain('scope="books:write"');
    await form('/oauth2/revoke', { token: tokens.access_token }, { Authorization: basic(client.client_id, client.client_secret!) });
    const revoked = await probe.request('/', { headers: bearer(tokens.access_token) }, env);
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toMatchObject({ error: 'invalid_token' });
    expect(reads).toEqual([]);
    expect(batches).toEqual([]);
  });
});
