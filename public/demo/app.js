// Tollgate's demo single-page app: an OAuth 2.1 public client in one file,
// with no framework and no library. Read it top to bottom:
//   1. "Sign in" sends the user to the authorization endpoint with PKCE (RFC 7636)
//      and a random state; the verifier waits in sessionStorage.
//   2. Back on this page with ?code=…, it checks state and iss (RFC 9207) and
//      trades the code for tokens at the token endpoint, by fetch.
//   3. It calls the books API with the access token. On a 401 it refreshes once
//      (the refresh token rotates on every use); if that fails too, it forgets
//      the tokens and asks the user to sign in again.
// Tokens live in this module's memory only, never in localStorage or cookies:
// an XSS elsewhere cannot read them from storage, and a reload signs out.
// Every token is sender-constrained with DPoP (RFC 9449, ./dpop.js): bound to
// a key pair whose private half this browser keeps and no script can export,
// so a token that leaks is useless anywhere else. The authorization request
// names the key (dpop_jkt), and the token, refresh, books and userinfo
// requests each carry a fresh proof signed with it.

import { openDPoP } from './dpop.js';

const root = document.getElementById('app');
const { clientId, redirectUri, issuer } = root.dataset;
const SCOPE = 'openid profile books:read books:write offline_access';

/** { access_token, refresh_token, ... } from the token endpoint, or null when signed out. */
let tokens = null;

const $ = (id) => document.getElementById(id);
const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const sha256 = async (text) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/** This browser's DPoP key (kept in IndexedDB across the sign-in redirect): its thumbprint and a fetch that signs proofs. */
const dpop = await openDPoP();

// 1. Start the authorization code flow.
async function signIn() {
  const verifier = randomString();
  const state = randomString();
  sessionStorage.setItem('tollgate-demo-pkce', JSON.stringify({ verifier, state }));
  const url = new URL('/oauth2/authorize', issuer);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state,
    code_challenge: base64url(await sha256(verifier)), // S256: the verifier itself never leaves the browser yet
    code_challenge_method: 'S256',
    // RFC 9449 §10: bind the code to this browser's key, so only a proof from it can redeem the code.
    dpop_jkt: dpop.thumbprint,
  });
  location.assign(url);
}

/**
 * POSTs to the token endpoint as a public client (client_id, no secret),
 * with a DPoP proof (RFC 9449 §5; dpop.fetch retries once with the server's
 * nonce when it asks for one). The tokens must come back DPoP-bound: a
 * Bearer answer would mean they could be used without the key, so it is refused.
 */
async function tokenRequest(params) {
  const response = await dpop.fetch(new URL('/oauth2/token', issuer).href, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, ...params }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error_description ?? body.error);
  if (body.token_type?.toLowerCase() !== 'dpop')
    throw new Error('The authorization server did not bind the tokens to this browser (DPoP).');
  return body;
}

// 2. Handle the redirect back from the authorization server.
async function handleRedirect() {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return;
  history.replaceState(null, '', location.pathname); // keep the code out of history
  const saved = JSON.parse(sessionStorage.getItem('tollgate-demo-pkce') ?? 'null');
  sessionStorage.removeItem('tollgate-demo-pkce');
  if (!saved || params.get('state') !== saved.state) throw new Error('This response does not belong to a sign-in started here.');
  if (params.get('iss') !== issuer) throw new Error('This response came from another authorization server.');
  if (params.has('error')) throw new Error(params.get('error_description') ?? params.get('error'));
  tokens = await tokenRequest({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri,
    code_verifier: saved.verifier,
  });
}

// 3. Call an API with the access token (Authorization: DPoP, and a proof with
//    the token's hash, ath); refresh once on 401.
async function api(path, init = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await dpop.fetch(new URL(path, issuer).href, init, tokens.access_token);
    if (response.status !== 401) return response;
    if (attempt > 0 || !tokens.refresh_token) break;
    try {
      tokens = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    } catch {
      break; // revoked or expired: the grant is gone
    }
  }
  tokens = null;
  throw new Error('Your session with Tollgate has ended. Sign in again.');
}

async function signOut() {
  // RFC 7009: revoking the refresh token ends the grant's tokens at the server too.
  if (tokens?.refresh_token) {
    await fetch(new URL('/oauth2/revoke', issuer), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, token: tokens.refresh_token, token_type_hint: 'refresh_token' }),
    });
  }
  tokens = null;
  await render('Signed out.');
}

async function loadBooks() {
  const books = await (await api('/api/books')).json();
  const list = $('books');
  list.replaceChildren(
    ...books.map((book) => {
      const item = document.createElement('li');
      item.textContent = `${book.title} by ${book.author}`; // text, never HTML
      return item;
    }),
  );
  $('empty').hidden = books.length > 0;
}

async function addBook(event) {
  event.preventDefault();
  const form = event.target;
  const response = await api('/api/books', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: form.title.value, author: form.author.value }),
  });
  if (!response.ok) throw new Error((await response.json()).error_description);
  form.reset();
  await loadBooks();
}

async function render(message = '') {
  $('signed-out').hidden = tokens !== null;
  $('signed-in').hidden = tokens === null;
  $('status').textContent = message;
  if (tokens) {
    const me = await (await api('/oauth2/userinfo')).json();
    $('who').textContent = me.name ?? me.sub;
    await loadBooks();
  }
}

/** Runs a step and shows its error instead of failing silently. */
const guarded = (step) => (event) =>
  step(event).catch(async (error) => {
    if (!tokens) await render(error.message);
    else $('status').textContent = error.message;
  });

$('sign-in').addEventListener('click', guarded(signIn));
$('sign-out').addEventListener('click', guarded(signOut));
$('reload').addEventListener('click', guarded(loadBooks));
$('add-book').addEventListener('submit', guarded(addBook));
guarded(async () => {
  await handleRedirect();
  await render();
})();
