import { asc, eq } from 'drizzle-orm';
import { now } from '../services/crypto';
import type { Db } from './db';
import { books, type Book } from './schema';

/** A user's books, oldest first: unexecuted, so a bearer route can batch it with its grant check. */
export function listBooksQuery(db: Db, userId: string) {
  return db.select().from(books).where(eq(books.userId, userId)).orderBy(asc(books.createdAt), asc(books.id));
}

export async function addBook(db: Db, userId: string, input: { title: string; author: string }): Promise<Book> {
  const book: Book = { id: crypto.randomUUID(), userId, createdAt: now(), ...input };
  await db.insert(books).values(book);
  return book;
}
