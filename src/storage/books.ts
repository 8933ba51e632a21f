import { asc, eq, sql } from 'drizzle-orm';
import { now } from '../lib/crypto';
import type { Db } from './db';
import { bind, preparedOnce } from './prepared';
import { type Book, books } from './schema';

/** A user's books, oldest first: unexecuted, so a bearer route can batch it with its grant check. */
export function listBooksQuery(db: Db, userId: string) {
  return bind(booksOfUser(db), { userId });
}

// Every GET /api/books runs this: prepared once (see prepared.ts).
const booksOfUser = preparedOnce((db) =>
  db
    .select()
    .from(books)
    .where(eq(books.userId, sql.placeholder('userId')))
    .orderBy(asc(books.createdAt), asc(books.id))
    .prepare(),
);

export async function addBook(db: Db, userId: string, input: { title: string; author: string }): Promise<Book> {
  const book: Book = { id: crypto.randomUUID(), userId, createdAt: now(), ...input };
  await db.insert(books).values(book);
  return book;
}
