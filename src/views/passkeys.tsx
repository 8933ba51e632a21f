import { PASSKEY_NAME_MAX_LENGTH } from '../config';
import type { Passkey } from '../storage/schema';
import { CsrfField } from './layout';

/** The module that runs the ceremonies (public/static/passkeys.js): a file, since the CSP allows no inline script. */
export function PasskeyScript() {
  return <script type="module" src="/static/passkeys.js" />;
}

/** Where the module says what went wrong (hidden until then). */
function CeremonyMessage() {
  return <p class="alert" role="alert" data-passkey-message hidden />;
}

/**
 * /login's passkey sign-in: a form of its own, whose button the module turns
 * into a ceremony (it reads the Email field of the password form, if filled
 * in, for a username-first sign-in) and then posts with the credential.
 */
export function PasskeySignInForm({ csrf, returnTo }: { csrf: string; returnTo: string }) {
  return (
    <form method="post" action="/login/passkey" data-passkey="sign-in" data-options="/login/passkey/options">
      <CsrfField token={csrf} />
      <input type="hidden" name="return_to" value={returnTo} />
      <input type="hidden" name="credential" value="" />
      <CeremonyMessage />
      <button type="submit" class="secondary">
        Sign in with a passkey
      </button>
      <PasskeyScript />
    </form>
  );
}

function date(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** /account's passkeys: each with **Remove**, then **Add a passkey** with an optional **Passkey name**. */
export function PasskeysSection({ csrf, passkeys }: { csrf: string; passkeys: Passkey[] }) {
  return (
    <>
      <h2>Passkeys</h2>
      {passkeys.length === 0 ? (
        <p>You have no passkeys. A passkey signs you in with this device's screen lock or a security key, without a password.</p>
      ) : (
        <ul class="apps">
          {passkeys.map((passkey) => (
            <li>
              <strong>{passkey.name}</strong>
              <span class="meta">
                {passkey.deviceType === 'multiDevice' ? 'Synced passkey' : 'Device-bound passkey'}. Added {date(passkey.createdAt)}; last
                used {passkey.lastUsedAt ? date(passkey.lastUsedAt) : 'never'}.
              </span>
              <form method="post" action={`/account/passkeys/${passkey.id}/remove`}>
                <CsrfField token={csrf} />
                <button type="submit" class="secondary" aria-label={`Remove ${passkey.name}`}>
                  Remove
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <form method="post" action="/account/passkeys" data-passkey="register" data-options="/account/passkeys/options">
        <CsrfField token={csrf} />
        <input type="hidden" name="credential" value="" />
        <p class="field">
          <label for="passkey-name">Passkey name</label>
          <input
            id="passkey-name"
            name="name"
            type="text"
            autocomplete="off"
            maxlength={PASSKEY_NAME_MAX_LENGTH}
            placeholder="e.g. Work laptop"
          />
        </p>
        <CeremonyMessage />
        <button type="submit">Add a passkey</button>
        <PasskeyScript />
      </form>
    </>
  );
}
