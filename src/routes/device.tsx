import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_VERIFICATION_PATH, RATE_LIMIT_WINDOW, USER_CODE_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError, PageError } from '../errors';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { answerUserCode, formatUserCode, lookUpUserCode, normalizeUserCode } from '../services/device-authorization';
import { resourceNames } from '../services/resources';
import { DeviceConsentPage } from '../views/consent';
import { DeviceDonePage, DevicePage } from '../views/device';

/**
 * The verification pages of the device flow (RFC 8628 §3.3): GET /device
 * shows the Code field (prefilled from `?user_code=`, §3.3.1); POST /device
 * sends a signed-out browser to sign in and back, and shows a signed-in user
 * the consent page of the request the code names; POST /device/answer takes
 * Allow or Deny and ends on a page that says the device carries on alone.
 * Every POST is CSRF-checked; every code lookup is rate limited
 * (services/device-authorization.ts).
 */
export const device = new Hono<AppEnv>();

/** A bad or repeated `user_code` in the query is only not prefilled. */
const pageQuery = z.object({ user_code: z.string().max(USER_CODE_MAX_LENGTH).optional().catch(undefined) });
const codeForm = z.object({ user_code: z.string().max(USER_CODE_MAX_LENGTH), csrf_token: z.string() });
const answerForm = codeForm.extend({ decision: z.enum(['allow', 'deny']) });

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf, loadSession] as const;

/** The page again with what was typed and what is wrong with it. */
function codePage(c: Context<AppEnv>, status: 400 | 429, error: string, userCode?: string) {
  const headers: Record<string, string> = status === 429 ? { 'Retry-After': String(RATE_LIMIT_WINDOW) } : {};
  return c.html(<DevicePage csrf={csrfToken(c)} userCode={userCode} error={error} />, status, headers);
}

/** To the sign-in page, which comes back to /device with the code prefilled (login.tsx's return_to). */
function signInFirst(c: Context<AppEnv>, typed: string) {
  const code = normalizeUserCode(typed);
  const back = code ? `${DEVICE_VERIFICATION_PATH}?user_code=${formatUserCode(code)}` : DEVICE_VERIFICATION_PATH;
  return c.redirect(`/login?return_to=${encodeURIComponent(back)}`, 303);
}

const LIMITED = 'Too many codes tried. Wait a minute and try again.';

device.get('/', validatePage('query', pageQuery), function devicePage(c) {
  return c.html(<DevicePage csrf={csrfToken(c)} userCode={c.req.valid('query').user_code} />);
});

device.post('/', ...formPost, async function enterUserCode(c) {
  const form = codeForm.safeParse(await c.req.parseBody());
  if (!form.success) return codePage(c, 400, 'Enter the code shown on your device.');
  const typed = form.data.user_code;
  const session = c.var.session;
  // Signed out: nothing is looked up, so the only guessers are signed-in accounts (limited each).
  if (!session) return signInFirst(c, typed);
  try {
    const pending = await lookUpUserCode(c.var.deps, typed, { network: clientNetwork(c), userId: session.user.id });
    return c.html(
      <DeviceConsentPage
        csrf={csrfToken(c)}
        userCode={pending.userCode}
        shownCode={formatUserCode(pending.userCode)}
        clientName={pending.client.name}
        userName={session.user.name}
        scopes={pending.authorization.scope.split(' ')}
        resources={resourceNames(c.var.deps.issuer, pending.authorization.resource)}
        unverified={pending.client.ownerId === null}
      />,
    );
  } catch (error) {
    if (error instanceof PageError) return codePage(c, 400, error.message, typed);
    if (error instanceof OAuthError && error.code === 'too_many_requests') return codePage(c, 429, LIMITED, typed);
    throw error;
  }
});

device.post('/answer', ...formPost, async function answerDevice(c) {
  const form = answerForm.safeParse(await c.req.parseBody());
  if (!form.success) throw new PageError('Invalid request', 'The form is invalid. Go back, enter the code again and answer.');
  const session = c.var.session;
  // Signed out since the consent page (another tab signed out): sign in and enter the code again.
  if (!session) return signInFirst(c, form.data.user_code);
  try {
    const answered = await answerUserCode(c.var.deps, {
      userCode: form.data.user_code,
      decision: form.data.decision,
      session,
      ip: clientIp(c),
      network: clientNetwork(c),
    });
    return c.html(<DeviceDonePage approved={answered.outcome === 'approved'} clientName={answered.clientName} />);
  } catch (error) {
    if (error instanceof OAuthError && error.code === 'too_many_requests') {
      throw new PageError('Too many attempts', LIMITED, 429);
    }
    throw error;
  }
});
