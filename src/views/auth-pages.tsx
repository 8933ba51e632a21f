import { PASSWORD_MIN_LENGTH, TURNSTILE_ACTION, TURNSTILE_SCRIPT_URL } from '../config';
import { Alert, CsrfField, Field, Layout } from './layout';
import { PasskeySignInForm } from './passkeys';
import { type ProviderButton, UpstreamButtons } from './upstream';

export interface LoginPageProps {
  csrf: string;
  /** Upstream identity providers: a "Continue with <name>" button each (issue 17). */
  upstream?: ProviderButton[] | undefined;
  returnTo: string;
  email?: string | undefined;
  error?: string | undefined;
  /** Shows Cloudflare Turnstile's challenge in the form, with this site key. */
  turnstileSiteKey?: string | undefined;
}

/**
 * Turnstile's widget, rendered by its own script (no inline script: the CSP
 * allows challenges.cloudflare.com on the sign-in page when Turnstile is
 * configured). It adds a `cf-turnstile-response` field to the form.
 */
function TurnstileChallenge({ siteKey }: { siteKey: string }) {
  return (
    <>
      <script src={TURNSTILE_SCRIPT_URL} async defer />
      <div class="cf-turnstile" data-sitekey={siteKey} data-action={TURNSTILE_ACTION} />
    </>
  );
}

export function LoginPage(props: LoginPageProps) {
  const signupHref = `/signup?return_to=${encodeURIComponent(props.returnTo)}`;
  return (
    <Layout title="Sign in">
      <Alert message={props.error} />
      <form method="post" action="/login">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="return_to" value={props.returnTo} />
        <Field id="email" label="Email" type="email" autocomplete="username" value={props.email} />
        <Field id="password" label="Password" type="password" autocomplete="current-password" />
        {props.turnstileSiteKey ? <TurnstileChallenge siteKey={props.turnstileSiteKey} /> : null}
        <button type="submit">Sign in</button>
      </form>
      <p>
        <a href="/forgot">Forgot password?</a>
      </p>
      <PasskeySignInForm csrf={props.csrf} returnTo={props.returnTo} />
      <UpstreamButtons providers={props.upstream ?? []} csrf={props.csrf} returnTo={props.returnTo} />
      <p>
        New here? <a href={signupHref}>Create an account</a>
      </p>
    </Layout>
  );
}

export interface SignupPageProps {
  csrf: string;
  returnTo: string;
  name?: string | undefined;
  email?: string | undefined;
  error?: string | undefined;
}

export function SignupPage(props: SignupPageProps) {
  const loginHref = `/login?return_to=${encodeURIComponent(props.returnTo)}`;
  return (
    <Layout title="Create account">
      <Alert message={props.error} />
      <form method="post" action="/signup">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="return_to" value={props.returnTo} />
        <Field id="name" label="Name" type="text" autocomplete="name" value={props.name} />
        <Field id="email" label="Email" type="email" autocomplete="username" value={props.email} />
        <Field id="password" label="Password" type="password" autocomplete="new-password" />
        {/* NIST SP 800-63B §5.1.1.2: say what is asked, and no composition rules. */}
        <p class="meta">At least {PASSWORD_MIN_LENGTH} characters; a long passphrase is best. Common passwords are refused.</p>
        <button type="submit">Create account</button>
      </form>
      <p>
        Already have an account? <a href={loginHref}>Sign in</a>
      </p>
    </Layout>
  );
}
