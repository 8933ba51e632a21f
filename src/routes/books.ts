import { Hono } from 'hono';
import type { AppEnv } from '../env';
import { bearerRead } from '../helpers/bearer-read';
import { requireAccessToken } from '../middleware/bearer-auth';
import { limitBody, requireContentType } from '../middleware/body';
import { validate } from '../middleware/validate';
import { bookSchema, bookView as view } from '../services/books';
import { BOOKS_API } from '../services/resources';
import { addBook, listBooksQuery } from '../storage/books';

/** The demo resource server: the resource owner's books, behind RFC 6750 bearer tokens. */
export const books = new Hono<AppEnv>();

// One D1 round trip: the grant check and the read, batched.
books.get(
  '/',
  bearerRead(
    // RFC 8707: only tokens whose aud is the books API (a token for /mcp is refused).
    { scope: 'books:read', user: true, resource: BOOKS_API },
    (db, token) => listBooksQuery(db, token.sub),
    function readBooks(c, rows) {
      return c.json(rows.map(view));
    },
  ),
);

books.post(
  '/',
  limitBody,
  requireAccessToken({ scope: 'books:write', user: true, resource: BOOKS_API }),
  requireContentType('application/json'),
  validate('json', bookSchema),
  async function createBook(c) {
    const book = await addBook(c.var.deps.db, c.var.accessToken.sub, c.req.valid('json'));
    return c.json(view(book), 201);
  },
);
