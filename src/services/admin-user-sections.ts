import type { BatchItem } from 'drizzle-orm/batch';
import type { Deps } from '../deps';
import type { Db } from '../storage/db';
import { passkeysOfUserQuery } from '../storage/passkeys';
import { disableStatements, totpCredentialQuery, unusedRecoveryCodesQuery } from '../storage/totp';
import { listIdentitiesOfUser } from '../storage/user-identities';
import { upstreamProviders } from './upstream-providers';

/** A time as the admin pages show it (views/admin-layout.tsx `when`): minutes, UTC; a dash for never. */
function when(seconds: number | null): string {
  return seconds === null ? '—' : `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * A section of a user's admin page for something an account may have besides
 * a password: passkeys, two-factor, linked upstream identities. Each feature
 * adds one entry to `adminUserSections` below (one import and one object): its
 * title and how to read the user's items as plain lines. Nothing secret: a
 * passkey's name and dates, never its public key; "two-factor on since …",
 * never the secret.
 */
export interface AdminUserSection {
  /** A stable key for the admin API's JSON. */
  id: string;
  title: string;
  read(deps: Deps, userId: string): Promise<SectionContent>;
  /**
   * For two-factor only: the statements that turn it off for the user, the
   * first answering a row when there was something to turn off (the service
   * audits only then, in the same batch).
   */
  reset?(db: Db, userId: string): [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]];
}

/** What a section shows of a user: plain lines, and (for a section with `reset`) whether there is anything to reset. */
export interface SectionContent {
  items: string[];
  resettable?: boolean;
}

/** Passkeys (WebAuthn): what the user named each, and when it was made and last used. The public key is not shown. */
const passkeysSection: AdminUserSection = {
  id: 'passkeys',
  title: 'Passkeys',
  async read({ db }, userId) {
    const rows = await passkeysOfUserQuery(db, userId);
    const items = rows.map(
      (passkey) =>
        `${passkey.name || 'Unnamed passkey'} · created ${when(passkey.createdAt)} · last used ${when(passkey.lastUsedAt)} · ${
          passkey.backedUp ? 'backed up (synced)' : 'not backed up'
        }`,
    );
    return { items };
  },
};

/**
 * Two-factor sign-in (TOTP): on since when, and how many recovery codes are
 * left; never the secret. One D1 round trip. Reset deletes the credential and
 * the recovery codes (storage/totp.ts disableStatements), as the user's own
 * "Turn off" does after a fresh code.
 */
const twoFactor: AdminUserSection = {
  id: 'two_factor',
  title: 'Two-factor',
  async read({ db }, userId) {
    const [credentials, unused] = await db.batch([totpCredentialQuery(db, userId), unusedRecoveryCodesQuery(db, userId)]);
    const credential = credentials[0];
    // A setup begun and not confirmed is resettable too: the reset deletes it.
    if (!credential) return { items: ['Off'], resettable: false };
    if (credential.confirmedAt === null) {
      return { items: [`Off (setup started ${when(credential.createdAt)}, not confirmed)`], resettable: true };
    }
    return { items: [`On since ${when(credential.confirmedAt)}`, `Unused recovery codes: ${unused[0]?.count ?? 0}`], resettable: true };
  },
  reset(db, userId) {
    return [...disableStatements(db, userId)];
  },
};

/** Accounts at upstream identity providers the user signs in with: the configured provider's name (its id once unconfigured), and when linked. */
const linkedProvidersSection: AdminUserSection = {
  id: 'linked_providers',
  title: 'Linked providers',
  async read({ db, env }, userId) {
    const config = upstreamProviders(env);
    const names = new Map(config.ok ? config.providers.map((provider) => [provider.id, provider.name]) : []);
    const identities = await listIdentitiesOfUser(db, userId);
    const items = identities.map((identity) => {
      const name = names.get(identity.providerId);
      const provider = name && name !== identity.providerId ? `${name} (${identity.providerId})` : identity.providerId;
      return `${provider}${identity.email ? ` · ${identity.email}` : ''} · linked ${when(identity.linkedAt)}`;
    });
    return { items };
  },
};

/** The sections shown on a user's admin page, in order. */
export const adminUserSections: AdminUserSection[] = [passkeysSection, twoFactor, linkedProvidersSection];

/** The section that can reset two-factor, when the server has two-factor sign-in: the "Reset two-factor" action exists only then. */
export const twoFactorSection: AdminUserSection | undefined = adminUserSections.find((section) => section.reset !== undefined);
