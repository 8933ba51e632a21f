import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Bindings } from '../bindings';
import { KEY_CACHE_TTL, KEY_RELOAD_MIN_INTERVAL, RETIRED_KEY_GRACE, SIGNING_ALG } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { now } from '../lib/crypto';
import { auditStatement } from '../storage/audit';
import { insertKeysIfAbsent, listPublishedKeys, rotateKeysStatements, sealStoredKey } from '../storage/keys';
import type { SigningKey, SigningKeyStatus } from '../storage/schema';
import { isSealed, openPrivateJwk, sealPrivateJwk } from './key-encryption';

/** Keys need D1 and the secrets, not the issuer: the part of `Deps` they use. */
export type KeyDeps = Pick<Deps, 'db' | 'env'>;

/** The keys an isolate signs and verifies with. */
export interface KeySet {
  signing: { kid: string; key: CryptoKey };
  verifying: Map<string, CryptoKey>;
  /** Public keys for `/.well-known/jwks.json`, each with `kid`, `alg` and `use`. */
  jwks: JWK[];
  loadedAt: number;
}

// Keys are immutable once made, so an isolate keeps them for KEY_CACHE_TTL
// instead of reading D1 and importing JWKs on every token. A reload makes a new
// KeySet object, which is how the verified-token cache (tokens.ts) knows its
// entries are stale.
let cached: KeySet | null = null;
let lastForcedReload = 0;
// When this isolate last learned that the keys changed (ms since the epoch; 0:
// not since it started). A PoP copy of the JWKS stored before then is not
// served (routes/well-known.ts); other isolates' copies age out (JWKS_EDGE_MAX_AGE).
let keysChangedAt = 0;

/** Forgets the cached keys (after a rotation, and in tests that change them), and any PoP copy of the JWKS made before. */
export function clearKeyCache(): void {
  cached = null;
  keysChangedAt = Date.now();
}

/** When this isolate last cleared its keys because they changed, ms since the epoch (0: never). */
export function keysLastChangedAt(): number {
  return keysChangedAt;
}

function publicJwk(jwk: JWK, kid: string): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, crv, x, y, kid, alg: SIGNING_ALG, use: 'sig' };
}

/** A key from the SIGNING_KEY secret: a private EC P-256 JWK. */
async function keySetFromSecret(secret: string): Promise<KeySet> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(secret) as JWK;
  } catch {
    throw new Error('SIGNING_KEY is not valid JSON');
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) {
    throw new Error('SIGNING_KEY must be a private EC P-256 JWK (for ES256)');
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const pub = publicJwk(jwk, kid);
  const [privateKey, publicKey] = await Promise.all([
    importJWK(jwk, SIGNING_ALG) as Promise<CryptoKey>,
    importJWK(pub, SIGNING_ALG) as Promise<CryptoKey>,
  ]);
  return {
    signing: { kid, key: privateKey },
    verifying: new Map([[kid, publicKey]]),
    jwks: [pub],
    loadedAt: now(),
  };
}

/** What a request that needs a key made without a key-encryption key is told (server_error); no secret in it. */
export const UNSEALED_KEY_REFUSED = 'signing keys need KEY_ENCRYPTION_KEY or SIGNING_KEY';

/**
 * Whether the issuer's host is loopback (`localhost`, 127.0.0.0/8, `[::1]`):
 * a development server such as `npm start`, whose D1 is a file on the
 * developer's own disk rather than a database others can back up or export.
 */
export function isLoopbackIssuer(issuer: string): boolean {
  let host: string;
  try {
    host = new URL(issuer).hostname;
  } catch {
    return false;
  }
  // URL has already normalised IPv4 (e.g. `127.1` is `127.0.0.1`) and refused octets over 255.
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

// Each operator message is logged once per isolate, not once per request.
const told = new Set<string>();
function tellOperatorOnce(level: 'warn' | 'error', message: string): void {
  if (told.has(message)) return;
  told.add(message);
  console[level](message);
}

/**
 * The secret that seals a new private key. A private key stored in clear
 * hands every token to whoever reads the database (a backup, a leaked
 * export): OWASP ASVS 4.0 §6.4.1 asks for key material kept apart from the
 * data it protects. So without KEY_ENCRYPTION_KEY a key is made only for a
 * loopback issuer (local development); anywhere else this fails closed with a
 * server_error that says which secret to set. Keys already stored in clear by
 * an older version stay readable (see `keySetFromDatabase`).
 */
function sealingSecret(env: Bindings): string | undefined {
  if (env.KEY_ENCRYPTION_KEY) return env.KEY_ENCRYPTION_KEY;
  if (!isLoopbackIssuer(env.ISSUER)) {
    tellOperatorOnce(
      'error',
      `Tollgate: refusing to store a signing key in D1 unencrypted for issuer ${env.ISSUER}: set KEY_ENCRYPTION_KEY (openssl rand -base64 32 | wrangler secret put KEY_ENCRYPTION_KEY) or SIGNING_KEY`,
    );
    throw new OAuthError('server_error', { status: 500, description: UNSEALED_KEY_REFUSED });
  }
  return undefined;
}

/**
 * Makes a fresh ES256 key pair as a `signing_keys` row, its private half
 * sealed under the KEK; in clear only for a loopback issuer (`sealingSecret`).
 */
async function generateSigningKey(env: Bindings, status: SigningKeyStatus): Promise<SigningKey> {
  const secret = sealingSecret(env);
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const [privateJwk, pub] = await Promise.all([exportJWK(privateKey), exportJWK(publicKey)]);
  const kid = await calculateJwkThumbprint(pub);
  return {
    kid,
    alg: SIGNING_ALG,
    status,
    publicJwk: publicJwk(pub, kid) as JsonWebKey,
    privateJwk: await sealPrivateJwk(privateJwk as JsonWebKey, kid, secret),
    createdAt: now(),
    retiredAt: null,
  };
}

async function keySetFromDatabase({ db, env }: KeyDeps): Promise<KeySet> {
  const retiredSince = now() - RETIRED_KEY_GRACE;
  let rows = await listPublishedKeys(db, retiredSince);
  if (!rows.some((row) => row.status === 'current')) {
    // First use: a current key, and the next one published from the start so
    // that relying parties already hold it when the first rotation comes.
    await insertKeysIfAbsent(db, [await generateSigningKey(env, 'current'), await generateSigningKey(env, 'next')]);
    rows = await listPublishedKeys(db, retiredSince);
  }
  const current = rows.find((row) => row.status === 'current');
  if (!current) throw new Error('no current signing key after creating one');
  if (!env.KEY_ENCRYPTION_KEY) warnUnsealed(env, rows);
  const verifying = new Map<string, CryptoKey>();
  await Promise.all(rows.map(async (row) => verifying.set(row.kid, (await importJWK(row.publicJwk as JWK, row.alg)) as CryptoKey)));
  const privateJwk = await openPrivateJwk(current.privateJwk, current.kid, env.KEY_ENCRYPTION_KEY);
  return {
    signing: { kid: current.kid, key: (await importJWK(privateJwk as JWK, current.alg)) as CryptoKey },
    verifying,
    jwks: rows.map((row) => row.publicJwk as JWK),
    loadedAt: now(),
  };
}

/**
 * Tells the operator, once, that private keys sit in D1 in clear: expected on
 * a loopback issuer; on any other, keys an older version made before the
 * refusal, which the next rotation after KEY_ENCRYPTION_KEY is set seals
 * (SECURITY.md says how).
 */
function warnUnsealed(env: Bindings, rows: SigningKey[]): void {
  if (isLoopbackIssuer(env.ISSUER)) {
    tellOperatorOnce(
      'warn',
      'Tollgate: no KEY_ENCRYPTION_KEY: signing keys are kept in D1 unencrypted, allowed only because the issuer is loopback; set KEY_ENCRYPTION_KEY or SIGNING_KEY before deploying',
    );
  } else if (rows.some((row) => !isSealed(row.privateJwk))) {
    tellOperatorOnce(
      'warn',
      'Tollgate: signing keys are stored in D1 unencrypted (made by an older version): set KEY_ENCRYPTION_KEY; the next rotation seals them (see SECURITY.md)',
    );
  }
}

/** The key set: from the SIGNING_KEY secret when set, else from D1 (created on first use). */
export async function getKeySet(deps: KeyDeps): Promise<KeySet> {
  if (cached && now() - cached.loadedAt < KEY_CACHE_TTL) return cached;
  cached = deps.env.SIGNING_KEY ? await keySetFromSecret(deps.env.SIGNING_KEY) : await keySetFromDatabase(deps);
  return cached;
}

/**
 * The verification key for a `kid`. An unknown kid may be a key made since the
 * cache was filled, so reload once, but at most every KEY_RELOAD_MIN_INTERVAL: a flood of
 * made-up kids must not turn into a flood of D1 reads.
 */
export async function getVerificationKey(deps: KeyDeps, kid: string | undefined): Promise<CryptoKey | null> {
  if (!kid) return null;
  const keys = await getKeySet(deps);
  const key = keys.verifying.get(kid);
  if (key || now() - lastForcedReload < KEY_RELOAD_MIN_INTERVAL) return key ?? null;
  lastForcedReload = now();
  cached = null;
  return (await getKeySet(deps)).verifying.get(kid) ?? null;
}

/**
 * Rotates the signing keys (Cron Trigger, `npm run keys:rotate`): the next key,
 * published since the last rotation, starts signing; the current one retires
 * but stays in the JWKS for RETIRED_KEY_GRACE, so every token it signed still
 * verifies; a new next key is published. With KEY_ENCRYPTION_KEY set, every
 * private key still stored in clear (made by an older version, or before the
 * secret was set) is sealed too. A key from the SIGNING_KEY secret is the
 * operator's to rotate, so nothing happens then.
 */
export async function rotateSigningKeys(deps: KeyDeps): Promise<{ rotated: boolean; current?: string; next?: string }> {
  const { db, env } = deps;
  if (env.SIGNING_KEY) return { rotated: false };
  await getKeySet(deps); // makes current and next on a fresh database
  const time = now();
  // A database from before `next` keys existed gets one first, so the promotion has something to promote.
  await insertKeysIfAbsent(db, [await generateSigningKey(env, 'next')]);
  const newNext = await generateSigningKey(env, 'next');
  // One D1 transaction: the promotion and its audit event land together or
  // not at all, so the trail never records a rotation that did not happen.
  await db.batch([...rotateKeysStatements(db, newNext, time, time - RETIRED_KEY_GRACE), auditStatement(db, { type: 'key_rotated' })]);
  if (env.KEY_ENCRYPTION_KEY) await sealClearKeys(deps, env.KEY_ENCRYPTION_KEY);
  clearKeyCache();
  const keys = await listPublishedKeys(db, time - RETIRED_KEY_GRACE);
  return {
    rotated: true,
    current: keys.find((key) => key.status === 'current')?.kid,
    next: keys.find((key) => key.status === 'next')?.kid,
  };
}

/** Seals, in place, every private key D1 still holds in clear (same kid, same key: nothing a relying party sees changes). */
async function sealClearKeys({ db }: KeyDeps, secret: string): Promise<void> {
  // Retired since 0: every row, retired ones included (their private halves are as sensitive).
  const clear = (await listPublishedKeys(db, 0)).filter((row) => !isSealed(row.privateJwk));
  await Promise.all(
    clear.map(async (row) =>
      sealStoredKey(
        db,
        row.kid,
        row.privateJwk,
        await sealPrivateJwk(await openPrivateJwk(row.privateJwk, row.kid, secret), row.kid, secret),
      ),
    ),
  );
}
