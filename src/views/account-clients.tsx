import { GRANT_TYPES, type GrantType, SCOPES, type Scope } from '../config';
import type { Client } from '../storage/schema';
import { Alert, CsrfField, Layout } from './layout';

// The developer section of /account (issue 15 item 6): the apps a user
// registered, a form to register one (the same metadata and rules as
// POST /oauth2/register), and a page per app to change its name and
// redirect URIs, rotate its secret or delete it. Secrets are shown once, on
// the page that answers the POST that made them: never in a URL, never again.

/** One of the user's registered clients, as the developer section lists it. */
export interface DeveloperClient {
  id: string;
  name: string;
  redirectUris: string[];
  grantTypes: GrantType[];
  scope: string | null;
  /** Whether it has a client secret (a confidential client), which can be rotated. */
  confidential: boolean;
}

/** How the developer section shows a client (never its secret hash, only whether it has one). */
export function developerClient(client: Client): DeveloperClient {
  return {
    id: client.id,
    name: client.name,
    redirectUris: client.redirectUris,
    grantTypes: client.grantTypes,
    scope: client.scope,
    confidential: client.secretHash !== null,
  };
}

/** What a person typed into the register form, to fill it in again with the error. */
export interface RegisterAppValues {
  name: string;
  redirectUris: string;
  type: 'public' | 'confidential';
  scopes: string[];
  grantTypes: string[];
}

export const EMPTY_REGISTER_VALUES: RegisterAppValues = {
  name: '',
  redirectUris: '',
  type: 'confidential',
  scopes: [],
  grantTypes: ['authorization_code'],
};

/** Each grant a form may ask for, in plain words. */
const GRANT_LABELS: Record<GrantType, string> = {
  authorization_code: 'Authorization code (people sign in through it)',
  refresh_token: 'Refresh tokens (with offline_access)',
  client_credentials: 'Client credentials (the app acts for itself; confidential only)',
  'urn:ietf:params:oauth:grant-type:device_code': 'Device code (CLIs and TVs)',
};

/** A form field id for a value with characters an id should not hold. */
function fieldId(prefix: string, value: string): string {
  return `${prefix}-${value.replace(/[^A-Za-z0-9]+/g, '-')}`;
}

function RedirectUrisField({ value }: { value: string }) {
  return (
    <p class="field">
      <label for="redirect_uris">Redirect URIs</label>
      <textarea id="redirect_uris" name="redirect_uris" rows={3} aria-describedby="redirect_uris_hint">
        {value}
      </textarea>
      <span id="redirect_uris_hint" class="meta">
        One per line: https, http on 127.0.0.1 or localhost, or an app's own scheme (com.example.app:/cb).
      </span>
    </p>
  );
}

function NameField({ value }: { value: string }) {
  return (
    <p class="field">
      <label for="client_name">App name</label>
      <input id="client_name" name="client_name" type="text" autocomplete="off" value={value} required />
    </p>
  );
}

/** The Register an app form; posts to /account/clients. */
export function RegisterAppForm(props: { csrf: string; values: RegisterAppValues; error?: string | undefined }) {
  const { values } = props;
  return (
    <form method="post" action="/account/clients" class="register-app">
      <Alert message={props.error} />
      <CsrfField token={props.csrf} />
      <NameField value={values.name} />
      <RedirectUrisField value={values.redirectUris} />
      <fieldset>
        <legend>Type</legend>
        <p class="choice">
          <input
            type="radio"
            id="client_type-confidential"
            name="client_type"
            value="confidential"
            checked={values.type === 'confidential'}
          />
          <label for="client_type-confidential">Confidential (runs on a server and keeps a client secret)</label>
        </p>
        <p class="choice">
          <input type="radio" id="client_type-public" name="client_type" value="public" checked={values.type === 'public'} />
          <label for="client_type-public">Public (runs in a browser or on a device: no secret, PKCE only)</label>
        </p>
      </fieldset>
      <fieldset>
        <legend>Grants</legend>
        {GRANT_TYPES.map((grant) => (
          <p class="choice">
            <input
              type="checkbox"
              id={fieldId('grant_type', grant)}
              name="grant_type"
              value={grant}
              checked={values.grantTypes.includes(grant)}
            />
            <label for={fieldId('grant_type', grant)}>{GRANT_LABELS[grant]}</label>
          </p>
        ))}
      </fieldset>
      <fieldset>
        <legend>Allowed scopes</legend>
        <p class="meta">None ticked: the app may ask for any scope.</p>
        {(Object.keys(SCOPES) as Scope[]).map((scope) => (
          <p class="choice">
            <input type="checkbox" id={fieldId('scope', scope)} name="scope" value={scope} checked={values.scopes.includes(scope)} />
            <label for={fieldId('scope', scope)}>
              {scope}: {SCOPES[scope]}
            </label>
          </p>
        ))}
      </fieldset>
      <div class="actions">
        <button type="submit">Register an app</button>
      </div>
    </form>
  );
}

/** The section of /account: the user's clients, each with a link to manage it, then the register form. */
export function DeveloperSection(props: { csrf: string; clients: DeveloperClient[] }) {
  return (
    <>
      <h2>Your registered clients</h2>
      {props.clients.length === 0 ? (
        <p>You have not registered any clients.</p>
      ) : (
        <ul class="apps">
          {props.clients.map((client) => (
            <li>
              <strong>{client.name}</strong>
              <span class="meta">
                <code>{client.id}</code> · {client.confidential ? 'confidential' : 'public'} ·{' '}
                {client.redirectUris.join(', ') || 'no redirect URIs'}
              </span>
              <a href={`/account/clients/${encodeURIComponent(client.id)}`} aria-label={`Manage ${client.name}`}>
                Manage
              </a>
            </li>
          ))}
        </ul>
      )}
      <h2>Register an app</h2>
      <RegisterAppForm csrf={props.csrf} values={EMPTY_REGISTER_VALUES} />
    </>
  );
}

/** The register form alone, again, with what was wrong. */
export function RegisterAppPage(props: { csrf: string; values: RegisterAppValues; error: string }) {
  return (
    <Layout title="Register an app">
      <RegisterAppForm csrf={props.csrf} values={props.values} error={props.error} />
      <p>
        <a href="/account">Back to your account</a>
      </p>
    </Layout>
  );
}

/** A value to copy: labelled, read-only, selectable. */
function Credential(props: { id: string; label: string; value: string }) {
  return (
    <p class="field">
      <label for={props.id}>{props.label}</label>
      <input id={props.id} type="text" readonly value={props.value} autocomplete="off" />
    </p>
  );
}

/** After registration: the client id, and the secrets this once. */
export function AppRegisteredPage(props: {
  clientId: string;
  name: string;
  secret: string | null;
  registrationToken: string;
  registrationClientUri: string;
}) {
  return (
    <Layout title="App registered">
      <p>
        <strong>{props.name}</strong> is registered.
        {props.secret ? ' Copy its client secret now: it is shown this once, and only its hash is kept.' : ''}
      </p>
      <Credential id="client_id" label="Client ID" value={props.clientId} />
      {props.secret ? <Credential id="client_secret" label="Client secret" value={props.secret} /> : null}
      <p class="meta">To manage the registration from code (RFC 7592), use its configuration endpoint with this token, also shown once:</p>
      <Credential id="registration_client_uri" label="Registration client URI" value={props.registrationClientUri} />
      <Credential id="registration_access_token" label="Registration access token" value={props.registrationToken} />
      <p>
        <a href="/account">Back to your account</a>
      </p>
    </Layout>
  );
}

/** One client's page: change its name and redirect URIs, rotate its secret, delete it. */
export function ManageClientPage(props: {
  csrf: string;
  client: DeveloperClient;
  values?: { name: string; redirectUris: string } | undefined;
  error?: string | undefined;
}) {
  const { client } = props;
  const base = `/account/clients/${encodeURIComponent(client.id)}`;
  const values = props.values ?? { name: client.name, redirectUris: client.redirectUris.join('\n') };
  return (
    <Layout title={`Manage ${client.name}`}>
      <p class="meta">
        Client ID <code>{client.id}</code> · {client.confidential ? 'confidential' : 'public'} · grants {client.grantTypes.join(', ')} ·
        scopes {client.scope ?? 'any'}
      </p>
      <form method="post" action={base}>
        <Alert message={props.error} />
        <CsrfField token={props.csrf} />
        <NameField value={values.name} />
        <RedirectUrisField value={values.redirectUris} />
        <p class="meta">Codes not yet redeemed for a redirect URI you remove stop working.</p>
        <div class="actions">
          <button type="submit">Save changes</button>
        </div>
      </form>
      {client.confidential ? (
        <form method="post" action={`${base}/rotate-secret`}>
          <h2>Client secret</h2>
          <p>A new secret replaces the current one at once: the app must use the new one from then on.</p>
          <CsrfField token={props.csrf} />
          <button type="submit">Rotate secret</button>
        </form>
      ) : null}
      <form method="post" action={`${base}/delete`}>
        <h2>Delete</h2>
        <p>Deleting the app ends every token and code issued to it.</p>
        <CsrfField token={props.csrf} />
        <button type="submit" class="secondary">
          Delete app
        </button>
      </form>
      <p>
        <a href="/account">Back to your account</a>
      </p>
    </Layout>
  );
}

/** After a rotation: the new secret, this once. */
export function NewSecretPage(props: { clientId: string; name: string; secret: string }) {
  return (
    <Layout title="New client secret">
      <p>
        <strong>{props.name}</strong> has a new client secret; the old one no longer works. Copy it now: it is shown this once.
      </p>
      <Credential id="client_id" label="Client ID" value={props.clientId} />
      <Credential id="client_secret" label="Client secret" value={props.secret} />
      <p>
        <a href={`/account/clients/${encodeURIComponent(props.clientId)}`}>Back to {props.name}</a>
      </p>
    </Layout>
  );
}
