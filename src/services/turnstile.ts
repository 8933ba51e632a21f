import { z } from 'zod';
import type { Bindings } from '../bindings';
import { TURNSTILE_ACTION, TURNSTILE_SITEVERIFY_URL, TURNSTILE_VERIFY_TIMEOUT } from '../config';
import type { Deps } from '../deps';

/**
 * Cloudflare Turnstile, the optional friction in front of an account over its
 * sign-in limit (OWASP Authentication Cheat Sheet: a CAPTCHA rather than a
 * lockout). The site key when Turnstile is configured (both keys set); null
 * when it is off, as it is locally, and then a limited browser is refused.
 */
export function turnstileSiteKey(env: Bindings): string | null {
  return env.TURNSTILE_SITE_KEY && env.TURNSTILE_SECRET_KEY ? env.TURNSTILE_SITE_KEY : null;
}

/** The part of siteverify's answer that decides. */
const siteverifyAnswer = z.object({
  success: z.boolean(),
  hostname: z.string().optional(),
  action: z.string().optional(),
});
type SiteverifyAnswer = z.infer<typeof siteverifyAnswer>;

/**
 * Whether `token` is a challenge solved on this issuer's sign-in page:
 * siteverify says success, for our hostname and the sign-in widget's action
 * (Cloudflare's server-side validation guide: tokens can be forged, are
 * single-use and expire after 5 minutes, so only siteverify's word counts).
 * Never fails open: an unreachable, slow or garbled siteverify is "not solved".
 */
export async function verifyTurnstile({ env, issuer }: Deps, token: string, remoteIp: string | null): Promise<boolean> {
  const secret = env.TURNSTILE_SECRET_KEY;
  if (!secret) return false;
  const answer = await siteverify({ secret, response: token, ...(remoteIp ? { remoteip: remoteIp } : {}) });
  return answer?.success === true && answer.action === TURNSTILE_ACTION && answer.hostname === new URL(issuer).hostname;
}

/** The one outbound call: POST the fields to siteverify. Null when it cannot be reached or does not answer as documented. */
async function siteverify(fields: Record<string, string>): Promise<SiteverifyAnswer | null> {
  try {
    const response = await fetch(TURNSTILE_SITEVERIFY_URL, {
      method: 'POST',
      body: new URLSearchParams(fields),
      signal: AbortSignal.timeout(TURNSTILE_VERIFY_TIMEOUT * 1000),
    });
    if (!response.ok) {
      console.warn(`Turnstile siteverify answered ${response.status}; the challenge counts as not passed`);
      return null;
    }
    const parsed = siteverifyAnswer.safeParse(await response.json());
    return parsed.success ? parsed.data : null;
  } catch (error) {
    // Unreachable, timed out, or not JSON. Never the token or the secret in a log.
    console.warn(`Turnstile siteverify failed (${error instanceof Error ? error.name : 'error'}); the challenge counts as not passed`);
    return null;
  }
}
