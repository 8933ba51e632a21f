import type { Bindings } from '../bindings';
import { kvTtl, RATE_LIMIT_WINDOW } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { hashSecret } from '../lib/crypto';

/** What is limited, and the binding that counts it (wrangler.toml [[ratelimits]]). */
const LIMITERS = {
  signIn: 'SIGN_IN_LIMITER',
  signInIp: 'SIGN_IN_IP_LIMITER',
  clientAuth: 'CLIENT_AUTH_LIMITER',
  registration: 'REGISTRATION_LIMITER',
  signupIp: 'SIGNUP_IP_LIMITER',
} as const satisfies Record<string, keyof Bindings>;
export type LimitName = keyof typeof LIMITERS;

/** KV key prefix of a "stop checking passwords" flag; the rest is the hashed limit key. */
const LOCK_PREFIX = 'ratelock:';

export function tooManyRequests(): OAuthError {
  return new OAuthError('too_many_requests', {
    status: 429,
    description: 'too many attempts; try again in a minute',
    headers: { 'Retry-After': String(RATE_LIMIT_WINDOW) },
  });
}

/** Limit keys are hashes: no email or IP is handed to the limiter or written to KV. */
async function limitKey(name: LimitName, subject: string): Promise<string> {
  return `${name}:${await hashSecret(subject.toLowerCase())}`;
}

/** Counts one attempt; throws 429 when the subject is over its limit. */
export async function countAttempt({ env }: Deps, name: LimitName, subject: string): Promise<void> {
  const { success } = await env[LIMITERS[name]].limit({ key: await limitKey(name, subject) });
  if (!success) throw tooManyRequests();
}

/**
 * Counts one failure; throws 429 when the subject is over its limit. With
 * `lock`, also raises a KV flag that `assertUnlocked` honours for one window:
 * a password must not be checked at all while its account is over the limit.
 */
export async function countFailure({ env }: Deps, name: LimitName, subject: string, options: { lock: boolean }): Promise<void> {
  const key = await limitKey(name, subject);
  const { success } = await env[LIMITERS[name]].limit({ key });
  if (success) return;
  if (options.lock) await env.KV.put(LOCK_PREFIX + key, '1', { expirationTtl: kvTtl(RATE_LIMIT_WINDOW) });
  throw tooManyRequests();
}

/** Throws 429 while a lock from `countFailure` stands for the subject. */
export async function assertUnlocked({ env }: Deps, name: LimitName, subject: string): Promise<void> {
  if (await env.KV.get(LOCK_PREFIX + (await limitKey(name, subject)))) throw tooManyRequests();
}
