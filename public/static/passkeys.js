// Passkey ceremonies for Tollgate's pages (W3C WebAuthn Level 3). Served as a
// file, since the pages' CSP allows no inline script. A form marked
// `data-passkey` ("sign-in" on /login, "register" on /account) runs a
// ceremony when submitted:
//   1. POST its `data-options` URL (form-encoded, with the form's CSRF token,
//      and the Email field's value for a username-first sign-in): the server
//      answers the options as JSON (PublicKeyCredential*OptionsJSON) and keeps
//      the challenge, bound to this browser by a cookie;
//   2. navigator.credentials.create() or get() with them;
//   3. put the credential's JSON in the form's `credential` field and submit
//      the form: the server checks it and answers with a redirect or a page.
// The base64url conversions are written out rather than left to
// PublicKeyCredential.parseCreationOptionsFromJSON and toJSON(), which older
// browsers lack.

/** base64url (RFC 4648 §5) to bytes. */
function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Bytes (an ArrayBuffer or a view) to base64url without padding. */
function toBase64url(buffer) {
  const bytes =
    buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const withBinaryId = (descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) });

/** PublicKeyCredentialCreationOptionsJSON (§5.4) to what create() takes. */
function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map(withBinaryId),
  };
}

/** PublicKeyCredentialRequestOptionsJSON (§5.5) to what get() takes. */
function requestOptions(json) {
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: (json.allowCredentials ?? []).map(withBinaryId) };
}

/** A credential as JSON (§5.1, what toJSON() gives): RegistrationResponseJSON or AuthenticationResponseJSON. */
function credentialJson(credential) {
  const { response } = credential;
  const common = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
  if ('attestationObject' in response) {
    return {
      ...common,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        attestationObject: toBase64url(response.attestationObject),
        transports: typeof response.getTransports === 'function' ? response.getTransports() : [],
      },
    };
  }
  return {
    ...common,
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : undefined,
    },
  };
}

function say(form, message) {
  const element = form.querySelector('[data-passkey-message]');
  if (!element) return;
  element.textContent = message;
  element.hidden = false;
}

/** Asks the server for the ceremony's options; throws with a sentence to show. */
async function fetchOptions(form) {
  const fields = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
  const email = document.getElementById('email');
  if (form.dataset.passkey === 'sign-in' && email?.value.trim()) fields.set('email', email.value.trim());
  const response = await fetch(form.dataset.options, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: fields,
    credentials: 'same-origin',
  });
  if (response.status === 429) throw new Error('Too many attempts. Wait a minute and try again.');
  const body = await response.json().catch(() => null);
  if (!response.ok || !body)
    throw new Error(body?.error_description ? `${body.error_description}.` : 'The page has expired. Reload it and try again.');
  return body;
}

async function ceremony(form) {
  const options = await fetchOptions(form);
  const credential =
    form.dataset.passkey === 'register'
      ? await navigator.credentials.create({ publicKey: creationOptions(options) })
      : await navigator.credentials.get({ publicKey: requestOptions(options) });
  if (!credential) throw new Error('No passkey was chosen.');
  form.elements.credential.value = JSON.stringify(credentialJson(credential));
  form.submit();
}

for (const form of document.querySelectorAll('form[data-passkey]')) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, 'This browser cannot use passkeys.');
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    ceremony(form).catch((error) => {
      button.disabled = false;
      // NotAllowedError: the person cancelled, or the time ran out; InvalidStateError: this authenticator holds a passkey for the account already.
      if (error?.name === 'NotAllowedError') say(form, 'The passkey request was cancelled or timed out.');
      else if (error?.name === 'InvalidStateError') say(form, 'This device already has a passkey for your account.');
      else say(form, error instanceof Error && error.message ? error.message : 'Something went wrong. Try again.');
    });
  });
}
