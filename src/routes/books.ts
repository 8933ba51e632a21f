import { Hono } from 'hono';
import { z } from 'zod';
import { BOOK_FIELD_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { bearerRead } from '../helpers/bearer-read';
import { requireAccessToken } from '../middleware/bearer-auth';
import { limitBody, requireContentType } from '../middleware/body';
import { validate } from '../middleware/validate';
import { addBook, listBooksQuery } from '../storage/books';
import type { Book } from '../storage/schema';

/** The demo resource server: the resource owner's books, behind RFC 6750 bearer tokens. */
export const books = new Hono<AppEnv>();

const bookSchema = z.object({
  title: z.string().trim().min(1, 'is required').max(BOOK_FIELD_MAX_LENGTH),
  author: z.string().trim().min(1, 'is required').max(BOOK_FIELD_MAX_LENGTH),
});

function view(book: Book) {
  return { id: book.id, title: book.title, author: book.author, created_at: book.createdAt };
}

// One D1 round trip: the grant check and the read, batched.
books.get(
  '/',
  bearerRead(
    { scope: 'books:read', user: true },
    (db, token) => listBooksQuery(db, token.sub),
    function readBooks(c, rows) {
      return c.json(rows.map(view));
    },
  ),
);

books.post(
  '/',
  limitBody,
  requireAccessToken({ scope: 'books:write', user: true }),
  requireContentType('application/json'),
  validate('json', bookSchema),
  async function createBook(c) {
    const book = await addBook(c.var.deps.db, c.var.accessToken.sub, c.req.valid('json'));
    return c.json(view(book), 201);
  },
);
