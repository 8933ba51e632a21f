import { desc, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './db';
import { devMailbox } from './schema';

export type KeptMail = typeof devMailbox.$inferSelect;
export type NewKeptMail = Omit<KeptMail, 'id'>;

/**
 * The insert of one mail and the trim that keeps only the newest `keep`,
 * unexecuted: the caller runs them in one D1 batch, so the mailbox never
 * holds more than `keep` mails, whatever runs at once.
 */
export function keepMailStatements(db: Db, mail: NewKeptMail, keep: number) {
  return [
    db.insert(devMailbox).values(mail),
    db.delete(devMailbox).where(lt(devMailbox.id, sql`(SELECT max(${devMailbox.id}) FROM ${devMailbox}) - ${keep - 1}`)),
  ] as const;
}

/** The kept mails, newest first, optionally only those to one address. */
export async function listKeptMail(db: Db, limit: number, to?: string): Promise<KeptMail[]> {
  return db
    .select()
    .from(devMailbox)
    .where(to ? eq(devMailbox.to, to) : undefined)
    .orderBy(desc(devMailbox.id))
    .limit(limit);
}

/** Deletes kept mails sent before `before` (the daily prune): a dev mailbox holds a day of mail at most. */
export function pruneKeptMailStatement(db: Db, before: number) {
  return db.delete(devMailbox).where(lt(devMailbox.sentAt, before));
}
