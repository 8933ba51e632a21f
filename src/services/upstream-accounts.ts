import type { Bindings } from '../bindings';
import { UPSTREAM_LINK_TTL } from '../config';
import type { Deps } from '../deps';
import { now, randomSecret } from '../lib/crypto';
import { recordAudit } from '../storage/audit';
import { type Db, isUniqueViolation } from '../storage/db';
import type { User, UserIdentity } from '../storage/schema';
import {
  deleteIdentityOfUser,
  findLinkedUser,
  insertIdentityStatement,
  insertUserStatement,
  linkIdentity,
  listIdentitiesOfUser,
} from '../storage/user-identities';
import { findUserByEmail } from '../storage/users';
import type { LinkedProvider } from '../views/upstream';
import { type PendingLink, usePending } from './upstream-pending';
import { type UpstreamProvider, upstreamProviders } from './upstream-providers';
import type { UpstreamProfile } from './upstream-relying-party';

// Which Tollgate account an upstream sign-in is, decided by the provider's
// stable subject, never by email alone (OIDC Core §5.7: only `iss` and `sub`
// identify a user). A provider account seen for the first time:
//  - makes a new user when no account has its email (email_verified_at set
//    only when the provider says the address is verified);
//  - with the email of an existing account, is linked to it only when the
//    provider says the address is verified AND the account's owner then signs
//    in to it in this browser (password or passkey): a hostile provider, or
//    one that lets anybody claim any address, cannot take an account over;
//  - is refused when the provider gave no email: an account needs one.

/**
 * The password hash of an account made by an upstream sign-in: no password
 * verifies against it (services/passwords.ts reads only `pbkdf2-…` hashes),
 * until the user sets one (a reset).
 */
const NO_PASSWORD_PREFIX = 'none$';

export function hasPassword(user: User): boolean {
  return !user.passwordHash.startsWith(NO_PASSWORD_PREFIX);
}

export type UpstreamOutcome =
  /** `twoFactor`: the user has TOTP on, so the sign-in still waits for a code (routes/upstream.tsx). */
  | { kind: 'signed-in'; user: User; created: boolean; twoFactor: boolean }
  | { kind: 'link-needed'; link: PendingLink; user: User }
  | { kind: 'refused'; title: string; message: string; status: 403 | 409 | 400 };

/** Where an upstream sign-in goes once done, and the client's IP for the audit trail. */
export interface UpstreamAttempt {
  returnTo: string;
  ip: string | null;
}

/** The account behind an upstream sign-in, as above. */
export async function accountForUpstream(
  deps: Deps,
  provider: UpstreamProvider,
  profile: UpstreamProfile,
  attempt: UpstreamAttempt,
  retry = true,
): Promise<UpstreamOutcome> {
  const { returnTo } = attempt;
  const linked = await findLinkedUser(deps.db, provider.id, profile.subject);
  if (linked) {
    if (linked.user.disabledAt !== null) {
      // Audited as a refused password sign-in is (services/sign-in.ts): the provider vouched for someone this account no longer lets in.
      await recordAudit(deps.db, { type: 'sign_in_refused', userId: linked.user.id, ip: attempt.ip });
      return { kind: 'refused', title: 'Account disabled', message: 'This account has been disabled.', status: 403 };
    }
    return { kind: 'signed-in', user: linked.user, created: false, twoFactor: linked.twoFactor };
  }
  if (!profile.email) {
    const message = `${provider.name} did not share an email address with Tollgate, so no account can be made. Sign in another way.`;
    return { kind: 'refused', title: 'No email address', message, status: 400 };
  }
  const existing = await findUserByEmail(deps.db, profile.email);
  if (existing) {
    if (!profile.emailVerified) {
      // No takeover: an address the provider does not vouch for proves nothing about the account that has it.
      const message = `An account with ${profile.email} already exists, and ${provider.name} does not confirm that this address is yours, so it cannot be linked. Sign in with your password instead.`;
      return { kind: 'refused', title: 'Account exists', message, status: 409 };
    }
    const link: PendingLink = {
      id: randomSecret(),
      provider: provider.id,
      subject: profile.subject,
      email: profile.email,
      userId: existing.id,
      returnTo,
      createdAt: now(),
    };
    return { kind: 'link-needed', link, user: existing };
  }
  const time = now();
  const user: User = {
    id: crypto.randomUUID(),
    email: profile.email,
    name: profile.name ?? profile.email.split('@')[0] ?? profile.email,
    passwordHash: NO_PASSWORD_PREFIX + randomSecret(),
    createdAt: time,
    emailVerifiedAt: profile.emailVerified ? time : null,
    role: 'user',
    disabledAt: null,
  };
  const identity: UserIdentity = {
    providerId: provider.id,
    subject: profile.subject,
    userId: user.id,
    email: profile.email,
    linkedAt: time,
  };
  try {
    // One batch: a user is never left without the link that made it, nor a link without its user.
    await deps.db.batch([insertUserStatement(deps.db, user), insertIdentityStatement(deps.db, identity)]);
  } catch (error) {
    // Another sign-in made this email's account or this link just now: decide again, once, with it in place.
    if (retry && isUniqueViolation(error)) return accountForUpstream(deps, provider, profile, attempt, false);
    throw error;
  }
  // A new user has no two-factor yet.
  return { kind: 'signed-in', user, created: true, twoFactor: false };
}

/** Why a pending link cannot be completed by this session, or null when it can. */
export function linkProblem(
  link: PendingLink,
  session: { user: User; authTime: number; amr?: string[] } | null,
): 'sign-in' | 'other-account' | null {
  if (!session) return 'sign-in';
  if (session.user.id !== link.userId) return 'other-account';
  // The owner signs in after the provider vouched for the email (an older
  // session says nothing of this browser's intent), and with the account's own
  // password or passkey: a sign-in through a provider (`fed`) proves only that
  // provider, and a two-factor code after it (`["fed","otp"]`) is a second
  // factor, not the account's own first one.
  const onlyFederated =
    session.amr !== undefined && session.amr.length > 0 && session.amr.every((method) => method === 'fed' || method === 'otp');
  if (session.authTime < link.createdAt || onlyFederated) return 'sign-in';
  return null;
}

/** Completes a pending link (once): false when it was used before or the provider account is linked already. */
export async function completeLink(deps: Deps, link: PendingLink, ip: string | null): Promise<boolean> {
  if (link.createdAt + UPSTREAM_LINK_TTL < now()) return false;
  if (!(await usePending(deps, link, UPSTREAM_LINK_TTL))) return false;
  const identity: UserIdentity = {
    providerId: link.provider,
    subject: link.subject,
    userId: link.userId,
    email: link.email,
    linkedAt: now(),
  };
  if (!(await linkIdentity(deps.db, identity))) return false;
  await recordAudit(deps.db, { type: 'identity_linked', userId: link.userId, ip });
  return true;
}

export type UnlinkResult = 'unlinked' | 'not-found' | 'last-way-in';

/**
 * Unlinks one of the user's provider accounts, unless it is their last way to
 * sign in: no password, no passkey and no other linked provider.
 */
export async function unlinkIdentity(
  deps: Deps,
  userId: string,
  providerId: string,
  subject: string,
  ip: string | null,
): Promise<UnlinkResult> {
  const identities = await listIdentitiesOfUser(deps.db, userId);
  if (!identities.some((identity) => identity.providerId === providerId && identity.subject === subject)) return 'not-found';
  // The DELETE keeps the rule itself (another link, a password or a passkey left), so racing unlinks cannot both pass.
  if (!(await deleteIdentityOfUser(deps.db, { userId, providerId, subject }, NO_PASSWORD_PREFIX))) return 'last-way-in';
  await recordAudit(deps.db, { type: 'identity_unlinked', userId, ip });
  return 'unlinked';
}

/** A user's linked provider accounts as /account lists them, named by the configured provider (or its id, once unconfigured). */
export async function linkedProvidersOf(db: Db, env: Bindings, userId: string): Promise<LinkedProvider[]> {
  const config = upstreamProviders(env);
  const names = new Map(config.ok ? config.providers.map((provider) => [provider.id, provider.name]) : []);
  return (await listIdentitiesOfUser(db, userId)).map((identity) => ({
    providerId: identity.providerId,
    providerName: names.get(identity.providerId) ?? identity.providerId,
    subject: identity.subject,
    email: identity.email,
  }));
}
