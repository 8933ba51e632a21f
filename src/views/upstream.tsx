import { CsrfField, Layout } from './layout';

// Pages and page parts of sign-in through upstream providers (issue 17).

/** A provider as pages show it. */
export interface ProviderButton {
  id: string;
  name: string;
}

/**
 * "Continue with <name>", one form per provider (a POST with the CSRF token:
 * starting a sign-in sets a cookie, so no other site may start one).
 */
export function UpstreamButtons(props: { providers: ProviderButton[]; csrf: string; returnTo: string }) {
  if (props.providers.length === 0) return null;
  return (
    <div class="upstream">
      {props.providers.map((provider) => (
        <form method="post" action={`/login/upstream/${provider.id}`}>
          <CsrfField token={props.csrf} />
          <input type="hidden" name="return_to" value={props.returnTo} />
          <button type="submit" class="secondary">
            Continue with {provider.name}
          </button>
        </form>
      ))}
    </div>
  );
}

/** A linked provider account on /account. */
export interface LinkedProvider {
  providerId: string;
  /** The configured provider's name, or its id when it is no longer configured. */
  providerName: string;
  subject: string;
  email: string | null;
}

/** /account's "Sign-in providers" section: each linked account with an Unlink button. */
export function LinkedProviders(props: { identities: LinkedProvider[]; csrf: string }) {
  if (props.identities.length === 0) return null;
  return (
    <>
      <h2>Sign-in providers</h2>
      <ul class="apps">
        {props.identities.map((identity) => (
          <li>
            <strong>{identity.providerName}</strong>
            <span class="meta">{identity.email ?? identity.subject}</span>
            <form method="post" action="/account/providers/unlink">
              <CsrfField token={props.csrf} />
              <input type="hidden" name="provider" value={identity.providerId} />
              <input type="hidden" name="subject" value={identity.subject} />
              <button type="submit" aria-label={`Unlink ${identity.providerName}`}>
                Unlink
              </button>
            </form>
          </li>
        ))}
      </ul>
    </>
  );
}

/** After an upstream sign-in whose verified email is an existing account's: sign in to that account to link it. */
export function LinkNeededPage(props: { providerName: string; email: string; loginHref: string }) {
  return (
    <Layout title="Link your account">
      <p>
        An account with <strong>{props.email}</strong> already exists. To sign in with {props.providerName} from now on, sign in to that
        account once, with its password or a passkey, in this browser.
      </p>
      <p>
        <a href={props.loginHref}>Sign in to link {props.providerName}</a>
      </p>
    </Layout>
  );
}

/** The owner, signed in again, confirms the link. */
export function ConfirmLinkPage(props: { providerName: string; email: string; csrf: string }) {
  return (
    <Layout title="Link your account">
      <p>
        Link the {props.providerName} account <strong>{props.email}</strong> to your Tollgate account? You will then be able to sign in with{' '}
        {props.providerName}.
      </p>
      <form method="post" action="/login/upstream/link">
        <CsrfField token={props.csrf} />
        <button type="submit">Link</button>
      </form>
      <p>
        <a href="/account">Cancel</a>
      </p>
    </Layout>
  );
}
