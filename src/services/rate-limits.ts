import type { Bindings } from '../bindings';
import { kvTtl, RATE_LIMIT_WINDOW } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { hashSecret } from '../lib/crypto';
import type { NetworkKey } from '../lib/network';

/** What is limited, and the binding that counts it (wrangler.toml [[ratelimits]]). */
const LIMITERS = {
  /** Failed sign-ins per account, from browsers without a device cookie for it. */
  signIn: 'SIGN_IN_LIMITER',
  /** Failed sign-ins per account and client network: always applies. */
  signInPair: 'SIGN_IN_PAIR_LIMITER',
  /** Failed sign-ins per device cookie. */
  signInDevice: 'SIGN_IN_DEVICE_LIMITER',
  /** Failed sign-ins per client network. */
  signInNetwork: 'SIGN_IN_IP_LIMITER',
  /** Failed client authentications per client and client network. */
  clientAuth: 'CLIENT_AUTH_LIMITER',
  /** Client registrations per user. */
  registration: 'REGISTRATION_LIMITER',
  /** Sign-ups per client network. */
  signupNetwork: 'SIGNUP_IP_LIMITER',
  /** Anonymous client registrations and client ID metadata document fetches per client network. */
  openRegistration: 'OPEN_REGISTRATION_LIMITER',
  /** User-code lookups on /device (RFC 8628 §5.1) per client network. */
  userCodeNetwork: 'USER_CODE_IP_LIMITER',
  /** Device authorization requests (each a D1 row for 10 minutes) per client network. */
  deviceAuthorizationNetwork: 'DEVICE_AUTHORIZATION_IP_LIMITER',
  /** Pushed authorization requests (each a D1 row for a minute) per client network. */
  pushedRequestNetwork: 'PUSHED_REQUEST_IP_LIMITER',
  /** User-code lookups on /device per signed-in account (every session of it together). */
  userCodeAccount: 'USER_CODE_ACCOUNT_LIMITER',
  /** Password reset requests (/forgot) per client network. */
  passwordResetNetwork: 'PASSWORD_RESET_IP_LIMITER',
  /** Reset and verification mails asked for one email address, from anywhere. */
  mailAddress: 'MAIL_ADDRESS_LIMITER',
  /** Wrong two-factor codes (TOTP or recovery) per account, by user id: at sign-in, setup and turning it off. */
  twoFactor: 'TWO_FACTOR_LIMITER',
  /** Passkey ceremonies begun (each a D1 challenge row for 5 minutes) per client network. */
  passkeyChallengeNetwork: 'PASSKEY_CHALLENGE_IP_LIMITER',
  /** Upstream sign-ins begun and callbacks answered (each an outbound fetch, a callback D1 writes) per client network. */
  upstreamNetwork: 'UPSTREAM_IP_LIMITER',
} as const satisfies Record<string, keyof Bindings>;
export type LimitName = keyof typeof LIMITERS;

/**
 * The limits counted per client network. Their subject must be a `NetworkKey`
 * (lib/network.ts: an IPv4 address or an IPv6 /64), so no per-IP limit can be
 * keyed on a raw address, which one IPv6 subscriber has 2^64 of.
 */
type NetworkLimit =
  | 'signInNetwork'
  | 'signupNetwork'
  | 'openRegistration'
  | 'userCodeNetwork'
  | 'deviceAuthorizationNetwork'
  | 'pushedRequestNetwork'
  | 'passwordResetNetwork'
  | 'passkeyChallengeNetwork'
  | 'upstreamNetwork';
export type LimitSubject<N extends LimitName> = N extends NetworkLimit ? NetworkKey : string;

/** KV key prefix of a "stop checking passwords" flag; the rest is the hashed limit key. */
const LOCK_PREFIX = 'ratelock:';

/** RFC 6585 §4: 429 with how long to wait. */
export function tooManyRequests(): OAuthError {
  return new OAuthError('too_many_requests', {
    status: 429,
    description: 'too many attempts; try again in a minute',
    headers: { 'Retry-After': String(RATE_LIMIT_WINDOW) },
  });
}

/**
 * The subject of a limit on something from one client network (an account, a
 * client id): the network's failures then never count against another's.
 * Null (no CF-Connecting-IP: local development) is one network of its own.
 */
export function fromNetwork(subject: string, network: NetworkKey | null): string {
  return JSON.stringify([subject, network ?? 'unknown network']);
}

/** Limit keys are hashes: no email, IP or client id is handed to the limiter or written to KV. */
async function limitKey(name: LimitName, subject: string): Promise<string> {
  return `${name}:${await hashSecret(subject.toLowerCase())}`;
}

/** Counts one event for the subject; true when that puts it over its limit for this window. */
export async function overLimit<N extends LimitName>({ env }: Deps, name: N, subject: LimitSubject<N>): Promise<boolean> {
  const { success } = await env[LIMITERS[name]].limit({ key: await limitKey(name, subject) });
  return !success;
}

/** Counts one attempt; throws 429 when the subject is over its limit. */
export async function countAttempt<N extends LimitName>(deps: Deps, name: N, subject: LimitSubject<N>): Promise<void> {
  if (await overLimit(deps, name, subject)) throw tooManyRequests();
}

/**
 * Raises a KV flag that `isLocked` sees for one window: while it stands, the
 * caller does not even check a password for the subject (so a guess over the
 * limit can never be confirmed). It lapses on its own: never a lockout for good.
 */
export async function lock<N extends LimitName>({ env }: Deps, name: N, subject: LimitSubject<N>): Promise<void> {
  await env.KV.put(LOCK_PREFIX + (await limitKey(name, subject)), '1', { expirationTtl: kvTtl(RATE_LIMIT_WINDOW) });
}

/** Whether a lock from `lock` stands for the subject. */
export async function isLocked<N extends LimitName>({ env }: Deps, name: N, subject: LimitSubject<N>): Promise<boolean> {
  return (await env.KV.get(LOCK_PREFIX + (await limitKey(name, subject)))) !== null;
}
