import type { AdminUserRow } from '../storage/admin-users';
import type { AuditEventType } from '../storage/schema';
import { ActionButton, AdminLayout, Pager, when } from './admin-layout';

export interface UsersPageProps {
  csrf: string;
  search: string | undefined;
  page: number;
  hasNext: boolean;
  users: AdminUserRow[];
  returnTo: string;
}

/** /admin/users: search by email or name, paged, with Disable / Enable per user. */
export function UsersPage(props: UsersPageProps) {
  return (
    <AdminLayout title="Users">
      <form method="get" action="/admin/users" class="search">
        <label for="q">Search</label>
        <input id="q" name="q" type="search" value={props.search ?? ''} placeholder="Email or name" />
        <button type="submit">Search</button>
      </form>
      {props.users.length === 0 ? (
        <p>No users found.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Status</th>
              <th>Action</th>
            </tr>
          </thead>
          <tbody>
            {props.users.map((user) => (
              <tr>
                <td>
                  <a href={`/admin/users/${encodeURIComponent(user.id)}`}>{user.email}</a>
                </td>
                <td>{user.name}</td>
                <td>{user.role}</td>
                <td>{user.disabledAt !== null ? 'Disabled' : 'Active'}</td>
                <td>
                  <UserToggle csrf={props.csrf} user={user} returnTo={props.returnTo} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager path="/admin/users" query={{ q: props.search }} page={props.page} hasNext={props.hasNext} />
    </AdminLayout>
  );
}

function UserToggle({ csrf, user, returnTo }: { csrf: string; user: AdminUserRow; returnTo: string }) {
  const base = `/admin/users/${encodeURIComponent(user.id)}`;
  return user.disabledAt !== null ? (
    <ActionButton action={`${base}/enable`} label="Enable" csrf={csrf} returnTo={returnTo} />
  ) : (
    <ActionButton action={`${base}/disable`} label="Disable" csrf={csrf} returnTo={returnTo} secondary />
  );
}

export interface UserPageProps {
  csrf: string;
  user: AdminUserRow;
  apps: { id: string; clientId: string; clientName: string; scope: string; createdAt: number; lastUsedAt: number | null }[];
  sessions: { authTime: number; expiresAt: number; amr: string[]; userAgent: string | null; lastSeenAt: number | null }[];
  apiTokens: number;
  activity: { at: number; type: AuditEventType; clientName: string | null; ip: string | null }[];
  resetRequired: boolean;
  sections: { title: string; items: string[] }[];
  canResetTwoFactor: boolean;
}

/** /admin/users/:id: the user's apps, sessions, sign-in methods and recent activity, and the actions on them. */
export function UserPage(props: UserPageProps) {
  const { user } = props;
  const base = `/admin/users/${encodeURIComponent(user.id)}`;
  return (
    <AdminLayout title={user.email}>
      <dl class="facts">
        <dt>Name</dt>
        <dd>{user.name}</dd>
        <dt>Id</dt>
        <dd>
          <code>{user.id}</code>
        </dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
        <dt>Status</dt>
        <dd>{user.disabledAt !== null ? `Disabled since ${when(user.disabledAt)}` : 'Active'}</dd>
        <dt>Email verified</dt>
        <dd>{user.emailVerifiedAt !== null ? when(user.emailVerifiedAt) : 'No'}</dd>
        <dt>Password</dt>
        <dd>{props.resetRequired ? 'Must be reset before the next sign-in' : 'Set'}</dd>
        <dt>Created</dt>
        <dd>{when(user.createdAt)}</dd>
      </dl>
      <div class="actions">
        <UserToggle csrf={props.csrf} user={user} returnTo={base} />
        <ActionButton action={`${base}/sign-out`} label="Sign out everywhere" csrf={props.csrf} secondary />
        {props.resetRequired ? null : (
          <ActionButton action={`${base}/require-password-reset`} label="Require a password reset" csrf={props.csrf} secondary />
        )}
        {props.canResetTwoFactor ? (
          <ActionButton action={`${base}/reset-two-factor`} label="Reset two-factor" csrf={props.csrf} secondary />
        ) : null}
        {user.role === 'admin' ? (
          <ActionButton action={`${base}/role/user`} label="Remove admin role" csrf={props.csrf} secondary />
        ) : (
          <ActionButton action={`${base}/role/admin`} label="Make admin" csrf={props.csrf} secondary />
        )}
      </div>
      <h2>Apps</h2>
      {props.apps.length === 0 ? (
        <p>No apps authorized.</p>
      ) : (
        <ul class="apps">
          {props.apps.map((app) => (
            <li>
              <a href={`/admin/clients/${encodeURIComponent(app.clientId)}`}>{app.clientName}</a>
              <span class="meta">
                {app.scope} · since {when(app.createdAt)} · last used {when(app.lastUsedAt)}
              </span>
            </li>
          ))}
        </ul>
      )}
      <h2>Sessions</h2>
      {props.sessions.length === 0 ? (
        <p>No live sessions.</p>
      ) : (
        <ul class="apps">
          {props.sessions.map((session) => (
            <li>
              <span>{session.userAgent ?? 'Unknown browser'}</span>
              <span class="meta">
                signed in {when(session.authTime)} ({session.amr.join(', ')}) · last seen {when(session.lastSeenAt)} · ends{' '}
                {when(session.expiresAt)}
              </span>
            </li>
          ))}
        </ul>
      )}
      <p class="meta">User API tokens: {props.apiTokens}</p>
      {props.sections.map((section) => (
        <>
          <h2>{section.title}</h2>
          {section.items.length === 0 ? (
            <p>None.</p>
          ) : (
            <ul>
              {section.items.map((item) => (
                <li>{item}</li>
              ))}
            </ul>
          )}
        </>
      ))}
      <h2>Recent activity</h2>
      {props.activity.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <ul class="apps">
          {props.activity.map((item) => (
            <li>
              <span>
                {item.type}
                {item.clientName ? ` · ${item.clientName}` : ''}
              </span>
              <span class="meta">
                {when(item.at)}
                {item.ip ? ` · ${item.ip}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href={`/admin/audit?user=${encodeURIComponent(user.id)}`}>All of this user's events</a>
      </p>
    </AdminLayout>
  );
}
