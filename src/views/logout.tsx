import { CsrfField, Layout } from './layout';

export interface LogoutPageProps {
  csrf: string;
  userName: string;
  clientName: string | null;
  clientId: string | null;
  idTokenHint: string | null;
  postLogoutRedirectUri: string | null;
  state: string | null;
}

/** Asks before signing out (OIDC RP-Initiated Logout §2): a link alone must not end a session. */
export function LogoutPage(props: LogoutPageProps) {
  return (
    <Layout title="Sign out?">
      <p>
        {props.clientName ? (
          <>
            <strong>{props.clientName}</strong> asks to sign you out of Tollgate, {props.userName}.
          </>
        ) : (
          <>Sign out of Tollgate, {props.userName}?</>
        )}
      </p>
      <form method="post" action="/oauth2/logout/confirm">
        <CsrfField token={props.csrf} />
        {props.clientId ? <input type="hidden" name="client_id" value={props.clientId} /> : null}
        {props.idTokenHint ? <input type="hidden" name="id_token_hint" value={props.idTokenHint} /> : null}
        {props.postLogoutRedirectUri ? <input type="hidden" name="post_logout_redirect_uri" value={props.postLogoutRedirectUri} /> : null}
        {props.state !== null ? <input type="hidden" name="state" value={props.state} /> : null}
        <div class="actions">
          <button type="submit">Sign out</button>
        </div>
      </form>
    </Layout>
  );
}

export function SignedOutPage() {
  return (
    <Layout title="Signed out">
      <p>You are signed out of Tollgate.</p>
      <p>
        <a href="/login">Sign in again</a>
      </p>
    </Layout>
  );
}
