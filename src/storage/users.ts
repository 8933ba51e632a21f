import { eq, sql } from 'drizzle-orm';
import { now } from '../lib/crypto';
import type { Db } from './db';
import { isUniqueViolation } from './db';
import { bind, preparedOnce } from './prepared';
import { type User, users } from './schema';

export interface NewUser {
  email: string;
  name: string;
  passwordHash: string;
}

/** Inserts a user; returns null when the email is taken (decided by the UNIQUE index, so races are safe). */
export async function createUser(db: Db, input: NewUser): Promise<User | null> {
  const user: User = { id: crypto.randomUUID(), createdAt: now(), emailVerifiedAt: null, role: 'user', disabledAt: null, ...input };
  try {
    await db.insert(users).values(user);
    return user;
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return db.query.users.findFirst({ where: eq(users.email, email) });
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  return (await userByIdQuery(db, id))[0];
}

// The userinfo endpoint reads this with every call: prepared once (see prepared.ts).
const userById = preparedOnce((db) =>
  db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .limit(1)
    .prepare(),
);

/** The user lookup, unexecuted, to share a D1 batch (userinfo's, with the grant check). */
export function userByIdQuery(db: Db, id: string) {
  return bind(userById(db), { id });
}

export async function updatePasswordHash(db: Db, id: string, passwordHash: string): Promise<void> {
  await db.update(users).set({ passwordHash }).where(eq(users.id, id));
}
