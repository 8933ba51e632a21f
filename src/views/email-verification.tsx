import { CsrfField, Layout } from './layout';

/**
 * The verification link's page: a button, not the GET itself, confirms, so a
 * mail scanner that prefetches links does not verify on the user's behalf.
 */
export function VerifyEmailPage(props: { csrf: string; token: string }) {
  return (
    <Layout title="Confirm your email address">
      <form method="post" action="/verify-email">
        <CsrfField token={props.csrf} />
        <input type="hidden" name="token" value={props.token} />
        <button type="submit">Verify email</button>
      </form>
    </Layout>
  );
}

export function VerifyLinkInvalidPage() {
  return (
    <Layout title="This link does not work">
      <p role="alert">This verification link has expired or was already used.</p>
      <p>
        <a href="/account">Your account</a> can send a new one.
      </p>
    </Layout>
  );
}

export function EmailVerifiedPage() {
  return (
    <Layout title="Email verified">
      <p role="status">Your email address is verified.</p>
      <p>
        <a href="/account">Your account</a>
      </p>
    </Layout>
  );
}

/** The notice on /account while the address is unverified, with a rate-limited **Resend verification email**. */
export function VerificationNotice(props: { csrf: string; verified: boolean }) {
  if (props.verified) return null;
  return (
    <section class="verification">
      <p role="status">Your email address is not verified yet: follow the link we mailed you.</p>
      <form method="post" action="/verify-email/resend">
        <CsrfField token={props.csrf} />
        <button type="submit" class="secondary">
          Resend verification email
        </button>
      </form>
    </section>
  );
}
