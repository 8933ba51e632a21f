import { SCOPES, type Scope } from '../config';
import { CsrfField, Layout } from './layout';

export interface ConsentPageProps {
  csrf: string;
  requestId: string;
  clientName: string;
  redirectHost: string;
  userName: string;
  scopes: string[];
  /** The names of the resources the token will be for (services/resources.ts resourceNames). */
  resources: string[];
  /**
   * The client belongs to no one (registered anonymously, or from a client ID
   * metadata document): its name is only what it calls itself, so the page
   * says so, and leads with where the answer goes.
   */
  unverified?: boolean;
}

/**
 * What the app asks for, each scope in the words the user reads (config.ts
 * SCOPES), and where it may use them: the resources its token will be for
 * (RFC 8707), by name.
 */
function ScopeList(props: { scopes: string[]; resources: string[] }) {
  return (
    <>
      <h2>This app will be able to:</h2>
      <ul class="scopes">
        {props.scopes.map((scope) => (
          <li>{SCOPES[scope as Scope] ?? scope}</li>
        ))}
      </ul>
      {props.resources.length > 0 ? <p class="resources">Through: {props.resources.join(', ')}.</p> : null}
    </>
  );
}

/** The answer: Allow or Deny, posted with the CSRF token and what names the request being answered. */
function Decision(props: { action: string; csrf: string; name: string; value: string }) {
  return (
    <form method="post" action={props.action}>
      <CsrfField token={props.csrf} />
      <input type="hidden" name={props.name} value={props.value} />
      <div class="actions">
        <button type="submit" name="decision" value="allow">
          Allow
        </button>
        <button type="submit" name="decision" value="deny" class="secondary">
          Deny
        </button>
      </div>
    </form>
  );
}

/** The consent page: who is asking, where the answer goes, and what for, in plain words. */
export function ConsentPage(props: ConsentPageProps) {
  return (
    <Layout title={props.unverified ? `Allow an unverified app at ${props.redirectHost}?` : `Allow ${props.clientName}?`}>
      {props.unverified ? (
        <>
          <div class="alert unverified">
            <p>
              <strong>Unverified app.</strong> Anyone can register an app here under any name; Tollgate has not checked who made this one.
              Continue only if you trust <strong class="host">{props.redirectHost}</strong>.
            </p>
          </div>
          <p>
            An app that calls itself <strong>“{props.clientName}”</strong> wants to access your Tollgate account, {props.userName}.
          </p>
        </>
      ) : (
        <p>
          <strong>{props.clientName}</strong> wants to access your Tollgate account, {props.userName}.
        </p>
      )}
      <p>
        You will be sent back to <strong>{props.redirectHost}</strong>.
      </p>
      <ScopeList scopes={props.scopes} resources={props.resources} />
      <Decision action="/oauth2/authorize" csrf={props.csrf} name="request_id" value={props.requestId} />
    </Layout>
  );
}

export interface DeviceConsentPageProps {
  csrf: string;
  /** The normalized user code, sent back with the answer. */
  userCode: string;
  /** The user code as the device shows it (XXXX-XXXX), for the user to compare. */
  shownCode: string;
  clientName: string;
  userName: string;
  scopes: string[];
  /** The names of the resources the token will be for (services/resources.ts resourceNames). */
  resources: string[];
  /** As on ConsentPage: the client belongs to no one, so its name is only what it calls itself. */
  unverified?: boolean;
}

/**
 * The consent page of the device flow (RFC 8628 §3.3): the same question as
 * ConsentPage, asked about a device. There is no redirect to name; instead
 * the page shows the code to compare and warns, as RFC 8628 §5.4 asks, that
 * a code someone else sent is a phishing attempt: approving it signs *their*
 * device in to this account.
 */
export function DeviceConsentPage(props: DeviceConsentPageProps) {
  const name = props.unverified ? `an unverified app that calls itself “${props.clientName}”` : props.clientName;
  return (
    <Layout title={props.unverified ? 'Allow an unverified app on a device?' : `Allow ${props.clientName} on a device?`}>
      {props.unverified ? (
        <div class="alert unverified">
          <p>
            <strong>Unverified app.</strong> Anyone can register an app here under any name; Tollgate has not checked who made this one.
          </p>
        </div>
      ) : null}
      <p>
        A device asked to sign in to your Tollgate account, {props.userName}, as <strong>{name}</strong>.
      </p>
      <p>
        Code: <strong class="user-code">{props.shownCode}</strong>
      </p>
      <p class="alert warning">
        Only allow this if you started signing in on a device yourself and it shows this same code. If someone sent you this code or link,
        press Deny: allowing it would let their device into your account.
      </p>
      <ScopeList scopes={props.scopes} resources={props.resources} />
      <Decision action="/device/answer" csrf={props.csrf} name="user_code" value={props.userCode} />
    </Layout>
  );
}
