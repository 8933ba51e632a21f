import { env } from 'cloudflare:test';
import { eq, is, Placeholder, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDb, type Db } from '../src/storage/db';
import { bind, preparedOnce } from '../src/storage/prepared';
import { books, type Client, clients, sessions, type User, users } from '../src/storage/schema';

// The contract of storage/prepared.ts's `bind()` with the pinned drizzle-orm.
// `bind()` hands Drizzle's D1 batch an object that answers `_prepare()` with
// the prepared query's D1 statement (`stmt`), its SQL and filled parameters
// (`getQuery()`) and its result mapping (`mapResult(result, true)`): Drizzle
// internals that a release may rename or reshape without a type error. These
// tests run every kind of statement the hot paths bind (a select with a join
// and a nested selection, a JSON column, UPDATE ... RETURNING, INSERT ...
// SELECT, a plain write), awaited alone and inside `db.batch`, against real
// local D1, and fail with one message that names the cause. The statements are
// this file's own, so a failure here is Drizzle's change, not storage's.

const CHANGED = 'drizzle-orm changed the internals storage/prepared.ts uses';

/** Runs a check of the contract; any failure is reported as a change in drizzle-orm. */
async function contract(what: string, check: () => Promise<void> | void): Promise<void> {
  try {
    await check();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`${CHANGED}: ${what}: ${detail}`, { cause: error });
  }
}

const db: Db = createDb(env.DB);
const suffix = crypto.randomUUID();
const user: User = {
  id: `u-${suffix}`,
  email: `contract-${suffix}@example.com`,
  name: 'Contract',
  passwordHash: 'x',
  createdAt: 1000,
  emailVerifiedAt: null,
  role: 'user',
  disabledAt: null,
};
const session = { idHash: `s-${suffix}`, userId: user.id, authTime: 1500, expiresAt: 9_999_999_999 };
const client: Client = {
  id: `c-${suffix}`,
  ownerId: user.id,
  name: 'Contract client',
  secretHash: null,
  tokenEndpointAuthMethod: 'none',
  redirectUris: ['https://app.example/cb', 'http://127.0.0.1/cb'],
  postLogoutRedirectUris: [],
  grantTypes: ['authorization_code', 'refresh_token'],
  scope: 'openid profile',
  createdAt: 2000,
  metadataExpiresAt: null,
  requirePushedAuthorizationRequests: false,
  registrationTokenHash: null,
  dpopBoundAccessTokens: false,
  jwks: null,
  jwksUri: null,
  jwksUriCache: null,
  tokenEndpointAuthSigningAlg: null,
};
const bookId = (name: string) => `${name}-${suffix}`;
const book = (name: string, title = 'Original') => ({ id: bookId(name), userId: user.id, title, author: 'Author', createdAt: 3000 });

// The shapes of the hot statements, prepared once as storage prepares them.

/** A join with a nested selection, as storage/sessions.ts's live session. */
const sessionWithUser = preparedOnce((db) =>
  db
    .select({ user: users, authTime: sessions.authTime })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.idHash, sql.placeholder('idHash')))
    .limit(1)
    .prepare(),
);

/** Every column of a row with JSON-mode columns, as storage/clients.ts's client lookup. */
const clientById = preparedOnce((db) =>
  db
    .select()
    .from(clients)
    .where(eq(clients.id, sql.placeholder('id')))
    .limit(1)
    .prepare(),
);

/** UPDATE ... RETURNING, as the code redemption and refresh rotation. */
const retitleBook = preparedOnce((db) =>
  db
    .update(books)
    .set({ title: sql`${sql.placeholder('title')}` })
    .where(eq(books.id, sql.placeholder('id')))
    .returning()
    .prepare(),
);

/** INSERT ... SELECT, as the refresh token minted from a code or its predecessor. */
const copyBook = preparedOnce((db) =>
  db
    .insert(books)
    .select(
      db
        .select({
          id: sql<string>`${sql.placeholder('copyId')}`.as('id'),
          userId: books.userId,
          title: books.title,
          author: books.author,
          createdAt: sql<number>`${sql.placeholder('time')}`.as('created_at'),
        })
        .from(books)
        .where(eq(books.id, sql.placeholder('id'))),
    )
    .prepare(),
);

/** A plain write without RETURNING, as the audit insert and the grant touch. */
const deleteBook = preparedOnce((db) =>
  db
    .delete(books)
    .where(eq(books.id, sql.placeholder('id')))
    .prepare(),
);

const bookRow = (id: string) => db.select().from(books).where(eq(books.id, id));

beforeAll(async () => {
  await db.insert(users).values(user);
  await db.batch([db.insert(sessions).values(session), db.insert(clients).values(client)]);
  await db
    .insert(books)
    .values([book('retitle-alone'), book('retitle-batch'), book('copy-source'), book('delete-alone'), book('delete-batch')]);
});

describe("the internals bind() relies on (storage/prepared.ts; drizzle-orm's D1 session batch)", () => {
  it('a prepared query carries its D1 statement, its SQL with placeholders, a result mapper and execute', async () => {
    const query = clientById(db) as unknown as Record<string, unknown>;
    await contract('a prepared query', () => {
      const stmt = query.stmt as { bind?: unknown } | undefined;
      expect(typeof stmt?.bind, 'prepared query `stmt` is no D1 statement with bind()').toBe('function');
      expect(typeof query.getQuery, 'prepared query has no getQuery()').toBe('function');
      const built = (query.getQuery as () => { sql?: unknown; params?: unknown })();
      expect(typeof built.sql, 'getQuery().sql is not a string').toBe('string');
      expect(Array.isArray(built.params), 'getQuery().params is not an array').toBe(true);
      // fillPlaceholders replaces Placeholder objects found among the params.
      expect(
        (built.params as unknown[]).some((param) => is(param, Placeholder)),
        'getQuery().params holds no Placeholder for fillPlaceholders to fill',
      ).toBe(true);
      expect(typeof query.mapResult, 'prepared query has no mapResult(result, isFromBatch)').toBe('function');
      expect(typeof query.execute, 'prepared query has no execute(values)').toBe('function');
    });
  });

  it("db.batch asks each item for _prepare(), as Drizzle's own builders answer it", async () => {
    await contract('the batch protocol', async () => {
      const builder = db.select().from(users) as unknown as { _prepare?: unknown };
      expect(typeof builder._prepare, 'query builders no longer have _prepare()').toBe('function');
      const bound = bind(clientById(db), { id: client.id });
      const asked = vi.spyOn(bound as unknown as { _prepare: () => unknown }, '_prepare');
      await db.batch([bound]);
      expect(asked, 'db.batch did not call _prepare() on a bound query').toHaveBeenCalledOnce();
    });
  });
});

describe('bind() over a prepared select', () => {
  const expected = { user, authTime: session.authTime };

  it('maps a join with a nested selection, alone', async () => {
    await contract('a nested selection, alone', async () => {
      expect(await bind(sessionWithUser(db), { idHash: session.idHash })).toEqual([expected]);
      expect(await bind(sessionWithUser(db), { idHash: 'none' })).toEqual([]);
    });
  });

  it('maps a join with a nested selection, in a batch', async () => {
    await contract('a nested selection, in a batch', async () => {
      const [found, missing] = await db.batch([
        bind(sessionWithUser(db), { idHash: session.idHash }),
        bind(sessionWithUser(db), { idHash: 'none' }),
      ]);
      expect(found).toEqual([expected]);
      expect(missing).toEqual([]);
    });
  });

  it('decodes JSON-mode columns, alone and in a batch', async () => {
    await contract('JSON-mode columns', async () => {
      expect(await bind(clientById(db), { id: client.id })).toEqual([client]);
      const [rows] = await db.batch([bind(clientById(db), { id: client.id })]);
      expect(rows).toEqual([client]);
      expect(rows[0]?.redirectUris).toEqual(client.redirectUris);
    });
  });

  it('binds each use to its own values: one prepared query, two bindings in one batch', async () => {
    await contract('independent bindings', async () => {
      const [first, second] = await db.batch([bind(clientById(db), { id: client.id }), bind(clientById(db), { id: 'none' })]);
      expect(first).toEqual([client]);
      expect(second).toEqual([]);
    });
  });
});

describe('bind() over UPDATE ... RETURNING', () => {
  it('answers the updated rows, alone', async () => {
    await contract('UPDATE ... RETURNING, alone', async () => {
      const id = bookId('retitle-alone');
      expect(await bind(retitleBook(db), { id, title: 'Alone' })).toEqual([{ ...book('retitle-alone'), title: 'Alone' }]);
      expect(await bind(retitleBook(db), { id: 'none', title: 'Nothing' })).toEqual([]);
      expect(await bookRow(id)).toEqual([{ ...book('retitle-alone'), title: 'Alone' }]);
    });
  });

  it('answers the updated rows in a batch, beside a plain builder', async () => {
    await contract('UPDATE ... RETURNING, in a batch', async () => {
      const id = bookId('retitle-batch');
      const [updated, missed, read] = await db.batch([
        bind(retitleBook(db), { id, title: 'Batched' }),
        bind(retitleBook(db), { id: 'none', title: 'Nothing' }),
        bookRow(id),
      ]);
      expect(updated).toEqual([{ ...book('retitle-batch'), title: 'Batched' }]);
      expect(missed).toEqual([]);
      // The batch runs in order: the builder reads what the bound update wrote.
      expect(read).toEqual([{ ...book('retitle-batch'), title: 'Batched' }]);
    });
  });
});

describe('bind() over INSERT ... SELECT (a plain run)', () => {
  it("answers D1's result and inserts the copy, alone", async () => {
    await contract('INSERT ... SELECT, alone', async () => {
      const result = await bind(copyBook(db), { id: bookId('copy-source'), copyId: bookId('copy-alone'), time: 4000 });
      expect(result.success).toBe(true);
      expect(result.meta.changes).toBe(1);
      expect(await bookRow(bookId('copy-alone'))).toEqual([{ ...book('copy-alone'), createdAt: 4000 }]);
    });
  });

  it("answers D1's result in a batch; a SELECT that finds nothing inserts nothing", async () => {
    await contract('INSERT ... SELECT, in a batch', async () => {
      const [copied, none] = await db.batch([
        bind(copyBook(db), { id: bookId('copy-source'), copyId: bookId('copy-batch'), time: 5000 }),
        bind(copyBook(db), { id: 'none', copyId: bookId('copy-none'), time: 5000 }),
      ]);
      expect(copied.success).toBe(true);
      expect(copied.meta.changes).toBe(1);
      expect(none.meta.changes).toBe(0);
      expect(await bookRow(bookId('copy-batch'))).toEqual([{ ...book('copy-batch'), createdAt: 5000 }]);
      expect(await bookRow(bookId('copy-none'))).toEqual([]);
    });
  });
});

describe('bind() over a plain write (no RETURNING)', () => {
  it("answers D1's result, alone", async () => {
    await contract('a plain run, alone', async () => {
      const result = await bind(deleteBook(db), { id: bookId('delete-alone') });
      expect(result.success).toBe(true);
      expect(result.meta.changes).toBe(1);
      expect((await bind(deleteBook(db), { id: bookId('delete-alone') })).meta.changes).toBe(0);
      expect(await bookRow(bookId('delete-alone'))).toEqual([]);
    });
  });

  it("answers D1's result in a batch", async () => {
    await contract('a plain run, in a batch', async () => {
      const [deleted, again] = await db.batch([
        bind(deleteBook(db), { id: bookId('delete-batch') }),
        bind(deleteBook(db), { id: bookId('delete-batch') }),
      ]);
      expect(deleted.success).toBe(true);
      expect(deleted.meta.changes).toBe(1);
      expect(again.meta.changes).toBe(0);
      expect(await bookRow(bookId('delete-batch'))).toEqual([]);
    });
  });
});
