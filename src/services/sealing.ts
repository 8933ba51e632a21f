import type { JWK } from 'jose';
import { RETIRED_KEY_GRACE } from '../config';
import type { Deps } from '../deps';
import { fromBase64url, hkdfSha256, now } from '../lib/crypto';
import { listPublishedKeys } from '../storage/keys';
import { openPrivateJwk } from './key-encryption';
import { getKeySet, getVerificationKey } from './keys';

// AES-256 keys for state that Tollgate seals for the browser to carry (a
// compact JWE with `dir` and A256GCM, RFC 7516, RFC 7518 §5.3): pending
// authorization requests (authorization/sealed-request.ts) and pending
// upstream sign-ins (upstream-pending.ts).
//
// A key needs no operator secret of its own: it is derived with HKDF-SHA256
// (RFC 5869) from the private scalar of a published signing key, salted with
// that key's `kid`, under an `info` label that names its one use. Each use has
// its own label, so its keys are independent of the other uses' and of the
// ECDSA key (RFC 5869 §3.2; NIST SP 800-108r1 §6.3; SP 800-57 Part 1 §5.2:
// one key, one purpose). The JWE names the signing key by `kid`, and any
// published key opens it: state sealed just before a key rotation still opens
// after it, for as long as the retired key is published (RETIRED_KEY_GRACE).
//
// The derivation must stay byte for byte what it is (test/sealing.test.ts
// holds known answers): a change would make every sealed cookie in flight
// unreadable.

const encoder = new TextEncoder();

/** The AES-256 key for one use (`info`) under signing key `kid`, from that key's private scalar `secret`. */
export function deriveSealingKey(secret: Uint8Array, kid: string, info: string): Promise<Uint8Array> {
  return hkdfSha256(secret, encoder.encode(kid), encoder.encode(info), 32);
}

/**
 * The private JWK of published signing key `kid`, from where keys.ts takes
 * keys: the SIGNING_KEY secret when it is set, otherwise the key's D1 row
 * (opened with KEY_ENCRYPTION_KEY when sealed). Null when no such key is
 * published. One D1 read, once per key and use per isolate.
 */
async function privateJwk(deps: Deps, kid: string): Promise<JWK | null> {
  if (deps.env.SIGNING_KEY) return JSON.parse(deps.env.SIGNING_KEY) as JWK;
  const row = (await listPublishedKeys(deps.db, now() - RETIRED_KEY_GRACE)).find((key) => key.kid === kid);
  return row ? ((await openPrivateJwk(row.privateJwk, row.kid, deps.env.KEY_ENCRYPTION_KEY)) as JWK) : null;
}

/** The sealing keys of one use. */
export interface SealingKeys {
  /** The key to seal with: the current signing key's, with its `kid` for the JWE header. */
  current(deps: Deps): Promise<{ kid: string; key: Uint8Array }>;
  /** A `jwtDecrypt` key resolver: the key of the published signing key the JWE header names; throws for any other. */
  named(deps: Deps): (header: { kid?: string }) => Promise<Uint8Array>;
}

/** The sealing keys for the use named by `info`; a new use gets a new label, never another use's. */
export function sealingKeys(info: string): SealingKeys {
  // Derived keys by signing-key id. A kid is the key's JWK thumbprint (RFC
  // 7638) or the SIGNING_KEY secret's own, so an entry can never go stale;
  // published keys are few (next, current and the recently retired).
  const derived = new Map<string, Uint8Array>();

  async function keyFor(deps: Deps, kid: string): Promise<Uint8Array | null> {
    const known = derived.get(kid);
    if (known) return known;
    const jwk = await privateJwk(deps, kid);
    if (!jwk?.d) return null;
    const key = await deriveSealingKey(fromBase64url(jwk.d), kid, info);
    derived.set(kid, key);
    return key;
  }

  return {
    async current(deps) {
      const { kid } = (await getKeySet(deps)).signing;
      const key = await keyFor(deps, kid);
      if (!key) throw new Error(`the current signing key ${kid} has no private key to derive from`);
      return { kid, key };
    },
    named(deps) {
      return async function keyNamedInHeader({ kid }) {
        // Only a published key's kid is looked up: a made-up kid costs no D1 read of its own.
        const key = kid && (await getVerificationKey(deps, kid)) ? await keyFor(deps, kid) : null;
        if (!key) throw new Error('not sealed under a published key');
        return key;
      };
    },
  };
}
