import { SCOPES, type Scope } from '../config';
import { CsrfField, Layout } from './layout';

export interface ConsentPageProps {
  csrf: string;
  requestId: string;
  clientName: string;
  redirectHost: string;
  userName: string;
  scopes: string[];
  /**
   * The client belongs to no one (registered anonymously, or from a client ID
   * metadata document): its name is only what it calls itself, so the page
   * says so, and leads with where the answer goes.
   */
  unverified?: boolean;
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
      <h2>This app will be able to:</h2>
      <ul class="scopes">
        {props.scopes.map((scope) => (
          <li>{SCOPES[scope as Scope] ?? scope}</li>
        ))}
      </ul>
      <form method="post" action="/oauth2/authorize">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="request_id" value={props.requestId} />
        <div class="actions">
          <button type="submit" name="decision" value="allow">
            Allow
          </button>
          <button type="submit" name="decision" value="deny" class="secondary">
            Deny
          </button>
        </div>
      </form>
    </Layout>
  );
}
