import { USER_CODE_LENGTH } from '../config';
import { Alert, CsrfField, Layout } from './layout';

export interface DevicePageProps {
  csrf: string;
  /** What to prefill the Code field with (`?user_code=`, or what was typed before an error). */
  userCode?: string | undefined;
  error?: string | undefined;
}

/**
 * The verification page (RFC 8628 §3.3): the user types the code their
 * device shows. Not a `Field`: a code is typed, not autofilled, and browsers
 * should neither correct nor capitalise it oddly.
 */
export function DevicePage(props: DevicePageProps) {
  return (
    <Layout title="Connect a device">
      <Alert message={props.error} />
      <p>Enter the code shown on your device.</p>
      <form method="post" action="/device">
        <CsrfField token={props.csrf} />
        <p class="field">
          <label for="user_code">Code</label>
          <input
            id="user_code"
            name="user_code"
            type="text"
            autocomplete="off"
            autocapitalize="characters"
            spellcheck={false}
            placeholder={`${'X'.repeat(USER_CODE_LENGTH / 2)}-${'X'.repeat(USER_CODE_LENGTH / 2)}`}
            value={props.userCode}
            required
          />
        </p>
        <button type="submit">Continue</button>
      </form>
    </Layout>
  );
}

/** The end of the device flow: the answer is recorded and the device picks it up on its own. */
export function DeviceDonePage({ approved, clientName }: { approved: boolean; clientName: string }) {
  return (
    <Layout title={approved ? 'Device connected' : 'Device not connected'}>
      <p>
        {approved ? (
          <>
            You allowed <strong>{clientName}</strong>. Your device will finish signing in on its own in a few seconds.
          </>
        ) : (
          <>
            You denied <strong>{clientName}</strong>. The device was not given access to your account.
          </>
        )}
      </p>
      <p>You may close this page now.</p>
    </Layout>
  );
}
