import { Hono } from 'hono';
import { z } from 'zod';
import { RATE_LIMIT_WINDOW } from '../config';
import type { AppEnv } from '../env';
import { afterResponse } from '../helpers/after-response';
import { clientIp } from '../helpers/client-ip';
import { opaqueTokenParam } from '../lib/params';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { sendVerificationMail, VERIFY_EMAIL_PATH, verifyEmail } from '../services/email-verification';
import { overLimit } from '../services/rate-limits';
import { EmailVerifiedPage, VerifyEmailPage, VerifyLinkInvalidPage } from '../views/email-verification';
import { ErrorPage } from '../views/error';

/** Email verification: the mailed link's page, its confirmation, and "Resend" from /account. */
export const emailVerification = new Hono<AppEnv>();

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf] as const;
/** A link's token in the query: a bad or repeated one is no token (the page says the link does not work). */
const linkQuery = z.object({ token: opaqueTokenParam.optional().catch(undefined) });
const verifyForm = z.object({ token: opaqueTokenParam, csrf_token: z.string() });

emailVerification.get(VERIFY_EMAIL_PATH, validatePage('query', linkQuery), function verifyEmailPage(c) {
  const { token } = c.req.valid('query');
  if (!token) return c.html(<VerifyLinkInvalidPage />, 400);
  return c.html(<VerifyEmailPage csrf={csrfToken(c)} token={token} />);
});

emailVerification.post(VERIFY_EMAIL_PATH, ...formPost, async function confirmEmail(c) {
  const form = verifyForm.safeParse(await c.req.parseBody());
  if (!form.success || !(await verifyEmail(c.var.deps, form.data.token, clientIp(c)))) {
    return c.html(<VerifyLinkInvalidPage />, 400);
  }
  return c.redirect(`${VERIFY_EMAIL_PATH}/done`, 303);
});

emailVerification.get(`${VERIFY_EMAIL_PATH}/done`, function emailVerifiedPage(c) {
  return c.html(<EmailVerifiedPage />);
});

/**
 * "Resend verification email" on /account: limited per address
 * (MAIL_ADDRESS_LIMITER, shared with /forgot), and at most
 * EMAIL_TOKENS_PER_WINDOW links an hour whatever the limiter says. The mail
 * goes after the response.
 */
emailVerification.post(`${VERIFY_EMAIL_PATH}/resend`, ...formPost, loadSession, async function resendVerification(c) {
  const session = c.var.session;
  if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
  const { user } = session;
  if (user.emailVerifiedAt === null) {
    if (await overLimit(c.var.deps, 'mailAddress', user.email)) {
      const page = <ErrorPage title="Too many requests" message="A verification email was sent just now. Wait a minute and try again." />;
      return c.html(page, 429, { 'Retry-After': String(RATE_LIMIT_WINDOW) });
    }
    afterResponse(c, sendVerificationMail(c.var.deps, user));
  }
  return c.redirect('/account', 303);
});
