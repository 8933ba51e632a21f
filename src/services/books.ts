import { z } from 'zod';
import { BOOK_FIELD_MAX_LENGTH } from '../config';
import type { Book } from '../storage/schema';

// The books demo's rules, shared by its two faces: the REST API
// (routes/books.ts) and the MCP server's tools (routes/mcp.ts). Both read and
// write the same D1 table through storage/books.ts.

/** A new book's fields: the same limits whichever face it comes through. */
export const bookFields = {
  title: z.string().trim().min(1, 'is required').max(BOOK_FIELD_MAX_LENGTH),
  author: z.string().trim().min(1, 'is required').max(BOOK_FIELD_MAX_LENGTH),
};

/** A new book, as the REST API's JSON body. */
export const bookSchema = z.object(bookFields);

/** A book as both faces show it. */
export function bookView(book: Book) {
  return { id: book.id, title: book.title, author: book.author, created_at: book.createdAt };
}
