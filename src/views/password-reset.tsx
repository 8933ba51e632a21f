import { PASSWORD_MIN_LENGTH } from '../config';
import { Alert, CsrfField, Field, Layout } from './layout';

/** /forgot: field **Email**, button **Send reset link** (SPEC, Wave 2). */
export function ForgotPage(props: { csrf: string; email?: string | undefined; error?: string | undefined }) {
  return (
    <Layout title="Reset your password">
      <Alert message={props.error} />
      <p>Enter the email address of your account. We will mail you a link to choose a new password.</p>
      <form method="post" action="/forgot">
        <CsrfField token={props.csrf} />
        <Field id="email" label="Email" type="email" autocomplete="username" value={props.email} />
        <button type="submit">Send reset link</button>
      </form>
      <p>
        Remembered it? <a href="/login">Sign in</a>
      </p>
    </Layout>
  );
}

/** The one answer to /forgot, whether or not an account has the address (no enumeration). */
export function ForgotSentPage({ minutes }: { minutes: number }) {
  return (
    <Layout title="Check your email">
      <p role="status">
        If an account uses that address, a link to reset its password is on its way. The link works once, for {minutes} minutes.
      </p>
      <p>
        <a href="/login">Back to sign in</a>
      </p>
    </Layout>
  );
}

/** The mailed link's page: field **New password**, button **Set password** (SPEC, Wave 2). */
export function ResetPasswordPage(props: { csrf: string; token: string; error?: string | undefined }) {
  return (
    <Layout title="Choose a new password">
      <Alert message={props.error} />
      <form method="post" action="/reset-password">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="token" value={props.token} />
        <Field id="password" label="New password" type="password" autocomplete="new-password" />
        {/* NIST SP 800-63B §5.1.1.2: say what is asked, and no composition rules. */}
        <p class="meta">At least {PASSWORD_MIN_LENGTH} characters; a long passphrase is best. Common passwords are refused.</p>
        <button type="submit">Set password</button>
      </form>
    </Layout>
  );
}

/** A reset link that cannot be used (spent, expired, unknown): one message for all three. */
export function ResetLinkInvalidPage() {
  return (
    <Layout title="This link does not work">
      <p role="alert">This password reset link has expired or was already used.</p>
      <p>
        <a href="/forgot">Ask for a new link</a>
      </p>
    </Layout>
  );
}

export function ResetDonePage() {
  return (
    <Layout title="Password changed">
      <p role="status">Your new password is set, and you were signed out everywhere.</p>
      <p>
        <a href="/login">Sign in</a>
      </p>
    </Layout>
  );
}
