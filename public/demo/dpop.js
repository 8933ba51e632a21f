// DPoP (RFC 9449) for a browser app, with Web Crypto and nothing else.
//
// Why: a bearer token works for whoever holds it. If this page's access or
// refresh token leaks (a log, a proxy, a malicious extension reading memory,
// an XSS that sends it away), it can be used from anywhere. With DPoP the
// authorization server binds every token to a public key (the token carries
// its thumbprint, `cnf.jkt`), and each request must come with a fresh proof
// signed by the matching private key. That private key is made here as
// non-extractable: the browser signs with it, but no script, this page's own
// included, can read its bytes. A stolen token is useless without the key,
// and the key never leaves this browser.
//
// The key pair is kept in IndexedDB, which stores a CryptoKey by structured
// clone: the copy stays usable for signing and stays non-extractable. It
// must outlive a page load, because the sign-in leaves this page: the
// authorization request names the key (`dpop_jkt`, §10), and the code that
// comes back can only be redeemed with a proof from that same key.

const DB_NAME = 'tollgate-demo-dpop';
const STORE = 'keys';
const KEY_NAME = 'dpop-es256';

const encoder = new TextEncoder();

/** base64url without padding (RFC 7515 §2), of bytes or of a string's UTF-8. */
export function base64url(input) {
  const bytes = typeof input === 'string' ? encoder.encode(input) : new Uint8Array(input);
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

const sha256 = (text) => crypto.subtle.digest('SHA-256', encoder.encode(text));

/** Runs one request against the key store and resolves with its result. */
function withStore(mode, run) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const request = run(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.transaction.oncomplete = () => db.close();
    };
  });
}

/** This browser's DPoP key pair: the one kept in IndexedDB, or a new one (ES256, private key not extractable). */
async function keyPair() {
  const kept = await withStore('readonly', (store) => store.get(KEY_NAME));
  if (kept) return kept;
  // extractable: false applies to the private key; a public key is always exportable (Web Crypto), as a JWK must be.
  const created = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  await withStore('readwrite', (store) => store.put(created, KEY_NAME));
  return created;
}

/** `htu` (RFC 9449 §4.2): the request's URI without query and fragment. */
function htu(url) {
  const target = new URL(url, location.href);
  target.search = '';
  target.hash = '';
  return target.href;
}

/**
 * Whether a response asks for a (new) server nonce (§8, §9): the token
 * endpoint says so with 400 `use_dpop_nonce` in its JSON, a resource server
 * with 401 and `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
 */
async function asksForNonce(response) {
  if (response.status === 401) return /error="use_dpop_nonce"/.test(response.headers.get('WWW-Authenticate') ?? '');
  if (response.status !== 400) return false;
  const body = await response
    .clone()
    .json()
    .catch(() => null);
  return body?.error === 'use_dpop_nonce';
}

/**
 * Opens this browser's DPoP key and returns what the app needs from it:
 * `thumbprint` (for `dpop_jkt` at the authorization endpoint) and `fetch`,
 * a fetch that adds a proof to every request.
 */
export async function openDPoP() {
  const { privateKey, publicKey } = await keyPair();
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const jwk = { crv, kty, x, y }; // the public key only, in the proof's header
  // RFC 7638 §3: SHA-256 of the required members, in lexicographic order, no whitespace.
  const thumbprint = base64url(await sha256(JSON.stringify({ crv, kty, x, y })));
  /** The last nonce each server origin gave (`DPoP-Nonce`, §8): sent in the next proof to it. */
  const nonces = new Map();

  /** A DPoP proof JWT (§4.2) for one request; `accessToken` adds `ath`, its hash (§4.2, for resource requests). */
  async function proof(method, url, accessToken) {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk };
    const nonce = nonces.get(new URL(url, location.href).origin);
    const claims = {
      jti: base64url(crypto.getRandomValues(new Uint8Array(16))), // unique: the server refuses a replayed proof
      htm: method,
      htu: htu(url),
      iat: Math.floor(Date.now() / 1000),
      ...(accessToken ? { ath: base64url(await sha256(accessToken)) } : {}),
      ...(nonce ? { nonce } : {}),
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // Web Crypto's ECDSA signature is r||s, exactly the JWS ES256 form (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, encoder.encode(input));
    return `${input}.${base64url(signature)}`;
  }

  /**
   * fetch() with a DPoP proof. With `accessToken`, a resource request:
   * `Authorization: DPoP <token>` and the proof's `ath`. A nonce the server
   * gives is kept; when the server refuses the proof for want of one, the
   * request is sent once more with a new proof carrying it.
   */
  async function dpopFetch(url, init = {}, accessToken) {
    const method = (init.method ?? 'GET').toUpperCase();
    const origin = new URL(url, location.href).origin;
    let response;
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = new Headers(init.headers);
      headers.set('DPoP', await proof(method, url, accessToken));
      if (accessToken) headers.set('Authorization', `DPoP ${accessToken}`);
      response = await fetch(url, { ...init, headers });
      const given = response.headers.get('DPoP-Nonce');
      const fresh = given !== null && given !== nonces.get(origin);
      if (given !== null) nonces.set(origin, given);
      if (!(fresh && (await asksForNonce(response)))) break;
    }
    return response;
  }

  return { thumbprint, fetch: dpopFetch };
}
