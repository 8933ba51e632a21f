import { SCOPES, type Scope } from '../config';
import type { SessionRow } from '../services/sessions-list';
import type { TwoFactorStatus } from '../services/totp';
import type { AuditEventType, Passkey } from '../storage/schema';
import { type DeveloperClient, DeveloperSection } from './account-clients';
import { VerificationNotice } from './email-verification';
import { CsrfField, Layout } from './layout';
import { PasskeysSection } from './passkeys';
import { SessionsSection } from './sessions-list';
import { TwoFactorSection } from './two-factor';
import { type LinkedProvider, LinkedProviders } from './upstream';

export interface AuthorizedApp {
  id: string;
  clientName: string;
  scope: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface ActivityItem {
  at: number;
  type: AuditEventType;
  clientName: string | null;
  ip: string | null;
}

/** Each event in plain words. */
function describe(item: ActivityItem): string {
  const app = item.clientName ?? 'an app';
  switch (item.type) {
    case 'sign_in':
      return 'Signed in';
    case 'sign_in_failed':
      return 'A sign-in failed (wrong password)';
    case 'sign_in_limited':
      return 'Too many failed sign-ins: sign-in was paused for a minute';
    case 'consent_granted':
      return `Authorized ${app}`;
    case 'grant_revoked':
      return `Revoked ${app}`;
    case 'refresh_reuse':
      return `A used refresh token of ${app} was presented again; its access was revoked`;
    case 'code_replay':
      return `An authorization code of ${app} was used twice; its access was revoked`;
    case 'client_created':
      return `Registered the client ${app}`;
    case 'client_deleted':
      return 'Deleted a client';
    case 'client_updated':
      return `Changed the registration of ${app}`;
    case 'client_secret_rotated':
      return `Gave ${app} a new client secret (the old one no longer works)`;
    case 'key_rotated':
      return 'Signing keys rotated';
    case 'password_accepted':
      return 'Your password was entered; the sign-in asked for a two-factor code';
    case 'two_factor_enabled':
      return 'Turned on two-factor sign-in';
    case 'two_factor_disabled':
      return 'Turned off two-factor sign-in';
    case 'two_factor_failed':
      return 'A wrong two-factor code was entered';
    case 'recovery_code_used':
      return 'Signed in with a recovery code';
    case 'password_reset':
      return 'Password changed through a reset link: every session and app access ended';
    case 'email_verified':
      return 'Email address verified';
    case 'session_ended':
      return 'Ended a session on another device';
    case 'identity_linked':
      return 'Linked a sign-in provider';
    case 'identity_unlinked':
      return 'Unlinked a sign-in provider';
    case 'upstream_accepted':
      return 'You signed in through a provider; the sign-in asked for a two-factor code';
    case 'passkey_added':
      return 'Added a passkey';
    case 'passkey_removed':
      return 'Removed a passkey';
    case 'passkey_sign_in_failed':
      return 'A sign-in with a passkey failed';
    case 'passkey_clone_suspected':
      return 'A passkey was refused: its signature counter went back, so it may have been copied';
    case 'sign_in_refused':
      return 'A sign-in with the right password was refused (the account is disabled or needs a new password)';
    case 'user_disabled':
      return 'An administrator disabled the account';
    case 'user_enabled':
      return 'An administrator enabled the account';
    case 'user_signed_out':
      return 'An administrator signed the account out everywhere';
    case 'password_reset_required':
      return 'An administrator asked for a new password';
    case 'two_factor_reset':
      return 'An administrator turned two-factor sign-in off';
    case 'admin_granted':
      return 'Made an administrator';
    case 'admin_revoked':
      return 'No longer an administrator';
    case 'client_disabled':
      return `An administrator disabled the client ${app}`;
    case 'client_enabled':
      return `An administrator enabled the client ${app}`;
  }
}

function date(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export interface AccountPageProps {
  csrf: string;
  userName: string;
  email: string;
  apps: AuthorizedApp[];
  clients: DeveloperClient[];
  activity: ActivityItem[];
  /** The user's live sessions (Where you are signed in), the current one marked. */
  sessions: SessionRow[];
  /** Whether users.email_verified_at is set: if not, the page offers to resend the link. */
  emailVerified: boolean;
  passkeys: Passkey[];
  /** Two-factor sign-in: on or not, and the recovery codes left. */
  twoFactor: TwoFactorStatus;
  /** Linked upstream provider accounts, each with Unlink (issue 17). */
  providers: LinkedProvider[];
}

export function AccountPage(props: AccountPageProps) {
  return (
    <Layout title="Your account">
      <p>
        Signed in as <strong>{props.userName}</strong> ({props.email}).
      </p>
      <h2>Authorized apps</h2>
      {props.apps.length === 0 ? (
        <p>You have not authorized any apps.</p>
      ) : (
        <ul class="apps">
          {props.apps.map((app) => (
            <li>
              <strong>{app.clientName}</strong>
              <span class="meta">
                {app.scope
                  .split(' ')
                  .map((scope) => SCOPES[scope as Scope] ?? scope)
                  .join('; ')}
                . Granted {date(app.createdAt)}; last used {app.lastUsedAt ? date(app.lastUsedAt) : 'never'}.
              </span>
              <form method="post" action={`/account/apps/${app.id}/revoke`}>
                <CsrfField token={props.csrf} />
                <button type="submit" aria-label={`Revoke ${app.clientName}`}>
                  Revoke
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <PasskeysSection csrf={props.csrf} passkeys={props.passkeys} />
      <LinkedProviders csrf={props.csrf} identities={props.providers} />
      <TwoFactorSection csrf={props.csrf} on={props.twoFactor.on} unusedRecoveryCodes={props.twoFactor.unusedRecoveryCodes} />
      <DeveloperSection csrf={props.csrf} clients={props.clients} />
      <h2>Recent activity</h2>
      {props.activity.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <ul class="activity">
          {props.activity.map((item) => (
            <li>
              {describe(item)}
              <span class="meta">
                {' '}
                · {date(item.at)}
                {item.ip ? ` · from ${item.ip}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
      <VerificationNotice csrf={props.csrf} verified={props.emailVerified} />
      <SessionsSection csrf={props.csrf} sessions={props.sessions} />
      <form method="post" action="/logout">
        <CsrfField token={props.csrf} />
        <button type="submit" class="secondary">
          Sign out
        </button>
      </form>
    </Layout>
  );
}
