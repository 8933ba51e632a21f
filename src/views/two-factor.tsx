import { raw } from 'hono/html';
import { Alert, CsrfField, Layout } from './layout';

/** A two-factor code field: a TOTP code or a recovery code, typed (never autofilled but by one-time-code). */
function CodeField({ id }: { id: string }) {
  return (
    <p class="field">
      <label for={id}>Code</label>
      <input
        id={id}
        name="code"
        type="text"
        autocomplete="one-time-code"
        autocapitalize="none"
        spellcheck={false}
        maxlength={64}
        required
      />
    </p>
  );
}

export interface TwoFactorSectionProps {
  csrf: string;
  on: boolean;
  unusedRecoveryCodes: number;
}

/** The two-factor part of /account: set it up, or turn it off with a fresh code. */
export function TwoFactorSection(props: TwoFactorSectionProps) {
  return (
    <section aria-labelledby="two-factor-heading">
      <h2 id="two-factor-heading">Two-factor sign-in</h2>
      {props.on ? (
        <>
          <p>
            Two-factor sign-in is on: after your password, sign-in asks for a code from your authenticator app. {props.unusedRecoveryCodes}{' '}
            recovery {props.unusedRecoveryCodes === 1 ? 'code is' : 'codes are'} left.
          </p>
          <form method="post" action="/account/two-factor/disable">
            <CsrfField token={props.csrf} />
            <CodeField id="two-factor-off-code" />
            <button type="submit" class="secondary">
              Turn off two-factor
            </button>
          </form>
        </>
      ) : (
        <>
          <p>Ask for a code from an authenticator app after your password.</p>
          <form method="post" action="/account/two-factor/setup">
            <CsrfField token={props.csrf} />
            <button type="submit">Set up two-factor</button>
          </form>
        </>
      )}
    </section>
  );
}

export interface TwoFactorSetupPageProps {
  csrf: string;
  /** Base32 secret; absent on a retry after a wrong code (the page was shown once). */
  secret?: string | undefined;
  /** The otpauth:// URI as an SVG QR code (uqr), rendered by Tollgate. */
  qrSvg?: string | undefined;
  recoveryCodes?: string[] | undefined;
  error?: string | undefined;
}

/**
 * Setup: the secret as text and as a QR code, the recovery codes (shown this
 * once), and the first code that turns two-factor on.
 */
export function TwoFactorSetupPage(props: TwoFactorSetupPageProps) {
  return (
    <Layout title="Set up two-factor">
      <Alert message={props.error} />
      {props.secret ? (
        <>
          <p>Scan this QR code with your authenticator app, or type the key below into it.</p>
          <figure class="qr">
            {raw(props.qrSvg?.replace('<svg ', '<svg width="220" height="220" role="img" aria-label="Scannable two-factor key" ') ?? '')}
          </figure>
          <p>
            Key: <code id="totp-secret">{props.secret}</code>
          </p>
        </>
      ) : null}
      {props.recoveryCodes ? (
        <>
          <h2>Recovery codes</h2>
          <p>
            Keep these somewhere safe. Each one signs you in once without your app. They are shown only now: Tollgate keeps only their
            hashes.
          </p>
          <ul class="recovery-codes">
            {props.recoveryCodes.map((code) => (
              <li>
                <code>{code}</code>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <p>Then enter the code your app shows, to turn two-factor on.</p>
      <form method="post" action="/account/two-factor/confirm">
        <CsrfField token={props.csrf} />
        <CodeField id="code" />
        <button type="submit">Confirm</button>
      </form>
    </Layout>
  );
}

/** A one-line result page on the way back to /account. */
export function TwoFactorDonePage({ title, message }: { title: string; message: string }) {
  return (
    <Layout title={title}>
      <p>{message}</p>
      <p>
        <a href="/account">Back to your account</a>
      </p>
    </Layout>
  );
}

export interface TwoFactorCodePageProps {
  csrf: string;
  error?: string | undefined;
}

/** Sign-in's second step: the code from the app (or a recovery code), after a right password. */
export function TwoFactorCodePage(props: TwoFactorCodePageProps) {
  return (
    <Layout title="Two-factor sign-in">
      <Alert message={props.error} />
      <p>Enter the code from your authenticator app, or one of your recovery codes.</p>
      <form method="post" action="/login/two-factor">
        <CsrfField token={props.csrf} />
        <CodeField id="code" />
        <button type="submit">Verify</button>
      </form>
      <p>
        <a href="/login">Start again</a>
      </p>
    </Layout>
  );
}
