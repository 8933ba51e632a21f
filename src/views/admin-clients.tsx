import type { AuditLogRow } from '../storage/admin-audit';
import { type AdminClientRow, clientKind } from '../storage/admin-clients';
import { ActionButton, AdminLayout, Pager, when } from './admin-layout';

export interface ClientsPageProps {
  csrf: string;
  search: string | undefined;
  page: number;
  hasNext: boolean;
  clients: AdminClientRow[];
  returnTo: string;
}

/** /admin/clients: every client (owned, anonymous, metadata document), searchable and paged, with Disable / Enable. */
export function ClientsPage(props: ClientsPageProps) {
  return (
    <AdminLayout title="Clients">
      <form method="get" action="/admin/clients" class="search">
        <label for="q">Search</label>
        <input id="q" name="q" type="search" value={props.search ?? ''} placeholder="Name, client id or owner's email" />
        <button type="submit">Search</button>
      </form>
      {props.clients.length === 0 ? (
        <p>No clients found.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Owner</th>
              <th>Authentication</th>
              <th>Status</th>
              <th>Action</th>
            </tr>
          </thead>
          <tbody>
            {props.clients.map((client) => (
              <tr>
                <td>
                  <a href={`/admin/clients/${encodeURIComponent(client.id)}`}>{client.name}</a>
                </td>
                <td>{clientKind(client)}</td>
                <td>{client.ownerEmail ?? '—'}</td>
                <td>{client.tokenEndpointAuthMethod}</td>
                <td>{client.disabledAt !== null ? 'Disabled' : 'Active'}</td>
                <td>
                  <ClientToggle csrf={props.csrf} client={client} returnTo={props.returnTo} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager path="/admin/clients" query={{ q: props.search }} page={props.page} hasNext={props.hasNext} />
    </AdminLayout>
  );
}

function ClientToggle({ csrf, client, returnTo }: { csrf: string; client: AdminClientRow; returnTo: string }) {
  const base = `/admin/clients/${encodeURIComponent(client.id)}`;
  return client.disabledAt !== null ? (
    <ActionButton action={`${base}/enable`} label="Enable" csrf={csrf} returnTo={returnTo} />
  ) : (
    <ActionButton action={`${base}/disable`} label="Disable" csrf={csrf} returnTo={returnTo} secondary />
  );
}

export interface ClientPageProps {
  csrf: string;
  client: AdminClientRow;
  grants: { id: string; userId: string | null; userEmail: string | null; scope: string; createdAt: number; lastUsedAt: number | null }[];
  liveRefreshTokens: number;
  activity: AuditLogRow[];
}

/** /admin/clients/:id: the client, its grants and recent token activity; Disable / Enable and Delete. */
export function ClientPage(props: ClientPageProps) {
  const { client } = props;
  const base = `/admin/clients/${encodeURIComponent(client.id)}`;
  return (
    <AdminLayout title={client.name}>
      <dl class="facts">
        <dt>Client id</dt>
        <dd>
          <code>{client.id}</code>
        </dd>
        <dt>Kind</dt>
        <dd>{clientKind(client)}</dd>
        <dt>Owner</dt>
        <dd>{client.ownerId ? <a href={`/admin/users/${encodeURIComponent(client.ownerId)}`}>{client.ownerEmail}</a> : 'Nobody'}</dd>
        <dt>Authentication</dt>
        <dd>{client.tokenEndpointAuthMethod}</dd>
        <dt>Grant types</dt>
        <dd>{client.grantTypes.join(', ')}</dd>
        <dt>Redirect URIs</dt>
        <dd>{client.redirectUris.join(', ') || '—'}</dd>
        <dt>Scope</dt>
        <dd>{client.scope ?? 'any'}</dd>
        <dt>Registered</dt>
        <dd>{when(client.createdAt)}</dd>
        <dt>Status</dt>
        <dd>{client.disabledAt !== null ? `Disabled since ${when(client.disabledAt)}` : 'Active'}</dd>
        <dt>Live refresh tokens</dt>
        <dd>{props.liveRefreshTokens}</dd>
      </dl>
      <div class="actions">
        <ClientToggle csrf={props.csrf} client={client} returnTo={base} />
        <ActionButton action={`${base}/delete`} label="Delete" csrf={props.csrf} secondary />
      </div>
      {clientKind(client) === 'metadata document' && <DocumentDeleteNote disabled={client.disabledAt !== null} />}
      <h2>Grants</h2>
      {props.grants.length === 0 ? (
        <p>No grants.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Scope</th>
              <th>Granted</th>
              <th>Last token</th>
            </tr>
          </thead>
          <tbody>
            {props.grants.map((grant) => (
              <tr>
                <td>
                  {grant.userId ? (
                    <a href={`/admin/users/${encodeURIComponent(grant.userId)}`}>{grant.userEmail}</a>
                  ) : (
                    'The client itself (client_credentials)'
                  )}
                </td>
                <td>{grant.scope || '—'}</td>
                <td>{when(grant.createdAt)}</td>
                <td>{when(grant.lastUsedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Recent activity</h2>
      <AuditRows rows={props.activity} />
      <p>
        <a href={`/admin/audit?client=${encodeURIComponent(client.id)}`}>All of this client's events</a>
      </p>
    </AdminLayout>
  );
}

/**
 * What Delete does to a client ID metadata document client (services/admin-clients.ts
 * deleteClientAsAdmin): its id is a URL anyone may present again, so only a
 * disabled one stays out.
 */
function DocumentDeleteNote({ disabled }: { disabled: boolean }) {
  return disabled ? (
    <p>
      Delete revokes everything issued to this client. Its id is the address of its metadata document, which anyone can present again: so it
      stays here, disabled, and its document is not fetched again unless you enable it.
    </p>
  ) : (
    <p>
      Delete revokes everything issued to this client, but its id is the address of its metadata document: on its next use the document is
      fetched again and the client comes back. To keep it out, disable it: a disabled client stays disabled when deleted.
    </p>
  );
}

/** Audit events as a table (the audit log and a client's page). */
export function AuditRows({ rows }: { rows: AuditLogRow[] }) {
  if (rows.length === 0) return <p>No events.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Time</th>
          <th>Event</th>
          <th>User</th>
          <th>Client</th>
          <th>By</th>
          <th>IP</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr>
            <td>{when(row.at)}</td>
            <td>{row.type}</td>
            <td>{row.userId ? <a href={`/admin/users/${encodeURIComponent(row.userId)}`}>{row.userEmail ?? row.userId}</a> : '—'}</td>
            <td>
              {row.clientId ? <a href={`/admin/clients/${encodeURIComponent(row.clientId)}`}>{row.clientName ?? row.clientId}</a> : '—'}
            </td>
            <td>{row.actorId ? (row.actorEmail ?? row.actorId) : '—'}</td>
            <td>{row.ip ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
