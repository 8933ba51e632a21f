import { SCOPES, type Scope } from '../config';
import type { AuditEventType } from '../storage/schema';
import { CsrfField, Layout } from './layout';

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
  clients: OwnedClient[];
  activity: ActivityItem[];
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
      <h2>Your registered clients</h2>
      {props.clients.length === 0 ? (
        <p>You have not registered any clients.</p>
      ) : (
        <ul class="apps">
          {props.clients.map((client) => (
            <li>
              <strong>{client.name}</strong>
              <span class="meta">
                <code>{client.id}</code> · {client.redirectUris.join(', ')}
              </span>
            </li>
          ))}
        </ul>
      )}
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
      <form method="post" action="/logout">
        <CsrfField token={props.csrf} />
        <button type="submit" class="secondary">
          Sign out
        </button>
      </form>
    </Layout>
  );
}
