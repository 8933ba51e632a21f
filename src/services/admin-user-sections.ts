import type { BatchItem } from 'drizzle-orm/batch';
import type { Db } from '../storage/db';

/**
 * A section of a user's admin page for something an account may have besides
 * a password: passkeys, two-factor, linked upstream identities. Each feature
 * adds one entry to `adminUserSections` below (one import and one object): its
 * title and how to read the user's items as plain lines. Nothing secret: a
 * passkey's name and dates, never its public key; "two-factor on since …",
 * never the secret.
 */
export interface AdminUserSection {
  title: string;
  read(db: Db, userId: string): Promise<string[]>;
  /** For two-factor only: the statements that turn it off for the user (the service adds the audit event to the batch). */
  reset?(db: Db, userId: string): [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]];
}

/** The sections shown on a user's admin page, in order. */
export const adminUserSections: AdminUserSection[] = [];

/** The section that can reset two-factor, when the server has two-factor sign-in: the "Reset two-factor" action exists only then. */
export const twoFactorSection: AdminUserSection | undefined = adminUserSections.find((section) => section.reset !== undefined);
