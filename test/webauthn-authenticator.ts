import { expect } from 'vitest';
import { type Browser, b64url, hiddenFields, ISSUER } from './helpers';

// A software authenticator for the passkey tests, written from W3C WebAuthn
// Level 3 with Web Crypto: it makes ES256 (P-256) credentials, answers
// create() with attestation "none" (§8.7) and get() with assertions signed
// over authenticatorData ‖ SHA-256(clientDataJSON) (§6.3.3), and builds the
// client data a browser would (§5.8.1). Everything is done by hand so that the
// server's real verification (@simplewebauthn/server) runs on it, and so that
// a test can make any field wrong on purpose.

// ---- A minimal CBOR encoder (RFC 8949): what COSE keys and attestation objects need.

function head(major: number, length: number): number[] {
  if (length < 24) return [(major << 5) | length];
  if (length < 0x100) return [(major << 5) | 24, length];
  if (length < 0x10000) return [(major << 5) | 25, length >> 8, length & 0xff];
  return [(major << 5) | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

type CborValue = number | string | Uint8Array | Map<CborValue, CborValue>;

function cbor(value: CborValue): Uint8Array {
  if (typeof value === 'number') return new Uint8Array(value >= 0 ? head(0, value) : head(1, -1 - value));
  if (typeof value === 'string') {
    const bytes = new TextEncoder().encode(value);
    return concat(new Uint8Array(head(3, bytes.length)), bytes);
  }
  if (value instanceof Uint8Array) return concat(new Uint8Array(head(2, value.length)), value);
  const parts: Uint8Array[] = [new Uint8Array(head(5, value.size))];
  for (const [key, item] of value) parts.push(cbor(key), cbor(item));
  return concat(...parts);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function fromB64url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** An ECDSA signature from Web Crypto (r ‖ s) as ASN.1 DER, as WebAuthn wants it for ES256 (§6.5.5). */
function derSignature(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let trimmed: Uint8Array = bytes.slice(start);
    if (trimmed[0]! & 0x80) trimmed = concat(new Uint8Array([0]), trimmed);
    return concat(new Uint8Array([0x02, trimmed.length]), trimmed);
  };
  const body = concat(integer(raw.slice(0, 32)), integer(raw.slice(32)));
  return concat(new Uint8Array([0x30, body.length]), body);
}

/** Authenticator data flags (§6.1). */
const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;

function counterBytes(counter: number): Uint8Array {
  return new Uint8Array([(counter >>> 24) & 0xff, (counter >> 16) & 0xff, (counter >> 8) & 0xff, counter & 0xff]);
}

interface StoredCredential {
  id: string;
  privateKey: CryptoKey;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface AuthenticatorOptions {
  /** Backup eligible and backed up (a synced passkey, `swk`), or device-bound (`hwk`, the default). */
  synced?: boolean;
  /** Whether it verifies the user (PIN, biometric). Default true. */
  userVerified?: boolean;
  /** How much the signature counter grows per assertion; 0 for an authenticator that keeps none. Default 1. */
  counterStep?: number;
}

/** What a test may make wrong in one ceremony. */
export interface CeremonyOverrides {
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  /** Sign with this counter instead of the next one. */
  counter?: number;
  /** get(): use this credential (by id) rather than the first that fits; create(): make the new credential with this id. */
  credentialId?: string;
  /** The userHandle to return; null to return none. */
  userHandle?: string | null;
}

type CreationOptions = {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  excludeCredentials?: { id: string }[];
  authenticatorSelection?: { residentKey?: string; userVerification?: string };
};
type RequestOptions = { challenge: string; rpId?: string; allowCredentials?: { id: string }[]; userVerification?: string };

export class SoftAuthenticator {
  readonly credentials: StoredCredential[] = [];
  private readonly options: Required<AuthenticatorOptions>;

  constructor(options: AuthenticatorOptions = {}) {
    this.options = { synced: false, userVerified: true, counterStep: 1, ...options };
  }

  private flags(extra: number): number {
    return UP | (this.options.userVerified ? UV : 0) | (this.options.synced ? BE | BS : 0) | extra;
  }

  private clientData(type: string, challenge: string, origin: string): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(): a new ES256 credential, attestation "none". Answers RegistrationResponseJSON. */
  async create(options: CreationOptions, overrides: CeremonyOverrides = {}) {
    const rpId = overrides.rpId ?? options.rp.id ?? new URL(ISSUER).hostname;
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
    const coseKey = cbor(
      new Map<CborValue, CborValue>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, fromB64url(jwk.x!)],
        [-3, fromB64url(jwk.y!)],
      ]),
    );
    const rawId = overrides.credentialId ? fromB64url(overrides.credentialId) : crypto.getRandomValues(new Uint8Array(16));
    const id = b64url(rawId);
    const counter = 0;
    const authData = concat(
      await sha256(new TextEncoder().encode(rpId)),
      new Uint8Array([this.flags(AT)]),
      counterBytes(counter),
      new Uint8Array(16), // AAGUID: none
      new Uint8Array([0, rawId.length]),
      rawId,
      coseKey,
    );
    const attestationObject = cbor(
      new Map<CborValue, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    const clientDataJSON = this.clientData(
      overrides.type ?? 'webauthn.create',
      overrides.challenge ?? options.challenge,
      overrides.origin ?? ISSUER,
    );
    this.credentials.push({ id, privateKey: keys.privateKey, rpId, userHandle: options.user.id, counter });
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(attestationObject),
        transports: ['internal', 'hybrid'],
      },
    };
  }

  /** navigator.credentials.get(): an assertion by a credential allowed (or, with none listed, any for the RP id). Answers AuthenticationResponseJSON. */
  async get(options: RequestOptions, overrides: CeremonyOverrides = {}) {
    const rpId = overrides.rpId ?? options.rpId ?? new URL(ISSUER).hostname;
    const allowed = (options.allowCredentials ?? []).map((entry) => entry.id);
    const credential = overrides.credentialId
      ? this.credentials.find((entry) => entry.id === overrides.credentialId)
      : this.credentials.find((entry) => (allowed.length === 0 ? entry.rpId === (options.rpId ?? rpId) : allowed.includes(entry.id)));
    if (!credential) throw new Error('NotAllowedError: no credential for this request');
    const counter = overrides.counter ?? credential.counter + this.options.counterStep;
    credential.counter = Math.max(credential.counter, counter);
    const authData = concat(await sha256(new TextEncoder().encode(rpId)), new Uint8Array([this.flags(0)]), counterBytes(counter));
    const clientDataJSON = this.clientData(
      overrides.type ?? 'webauthn.get',
      overrides.challenge ?? options.challenge,
      overrides.origin ?? ISSUER,
    );
    const signed = concat(authData, await sha256(clientDataJSON));
    const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, credential.privateKey, signed));
    const userHandle = overrides.userHandle === undefined ? credential.userHandle : overrides.userHandle;
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(derSignature(raw)),
        ...(userHandle === null ? {} : { userHandle }),
      },
    };
  }
}

// ---- Driving the pages' endpoints as the page's module does.

/** The CSRF token of a page the browser loads (its hidden field). */
export async function csrfOf(browser: Browser, path: string): Promise<string> {
  const page = await browser.get(path);
  expect(page.status, path).toBe(200);
  return hiddenFields(await page.text()).csrf_token!;
}

/** Begins adding a passkey on /account: the options JSON, as the module fetches it. */
export async function registrationOptions(browser: Browser): Promise<{ csrf: string; options: CreationOptions }> {
  const csrf = await csrfOf(browser, '/account');
  const response = await browser.post('/account/passkeys/options', { csrf_token: csrf });
  expect(response.status, await response.clone().text()).toBe(200);
  return { csrf, options: (await response.json()) as CreationOptions };
}

/** Adds a passkey for the signed-in browser's user; answers the form post's response. */
export async function addPasskey(
  browser: Browser,
  authenticator: SoftAuthenticator,
  options: { name?: string; overrides?: CeremonyOverrides } = {},
) {
  const begun = await registrationOptions(browser);
  const credential = await authenticator.create(begun.options, options.overrides);
  return browser.post('/account/passkeys', {
    csrf_token: begun.csrf,
    name: options.name ?? 'Test key',
    credential: JSON.stringify(credential),
  });
}

/** Begins a passkey sign-in on /login (username-first with `email`). */
export async function signInOptions(browser: Browser, email?: string): Promise<{ csrf: string; options: RequestOptions }> {
  const csrf = await csrfOf(browser, '/login');
  const response = await browser.post('/login/passkey/options', { csrf_token: csrf, ...(email === undefined ? {} : { email }) });
  expect(response.status, await response.clone().text()).toBe(200);
  return { csrf, options: (await response.json()) as RequestOptions };
}

/** Posts a sign-in form with a credential, as the module does after get(). */
export function postSignIn(browser: Browser, csrf: string, credential: unknown, returnTo = '/account') {
  return browser.post('/login/passkey', { csrf_token: csrf, return_to: returnTo, credential: JSON.stringify(credential) });
}

/** Signs in with a passkey; answers the form post's response. */
export async function signInWithPasskey(
  browser: Browser,
  authenticator: SoftAuthenticator,
  options: { email?: string; overrides?: CeremonyOverrides; returnTo?: string } = {},
) {
  const begun = await signInOptions(browser, options.email);
  const credential = await authenticator.get(begun.options, options.overrides);
  return postSignIn(browser, begun.csrf, credential, options.returnTo);
}
