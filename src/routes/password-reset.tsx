import { Hono } from 'hono';
import { z } from 'zod';
import { PASSWORD_RESET_TTL, RATE_LIMIT_WINDOW } from '../config';
import type { AppEnv } from '../env';
import { afterResponse } from '../helpers/after-response';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { describeIssues } from '../lib/issues';
import { opaqueTokenParam } from '../lib/params';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { validatePage } from '../middleware/validate';
import { emailSchema, passwordSchema } from '../services/accounts';
import { isLiveResetLink, RESET_PASSWORD_PATH, requestPasswordReset, resetPassword } from '../services/password-reset';
import { overLimit } from '../services/rate-limits';
import { ForgotPage, ForgotSentPage, ResetDonePage, ResetLinkInvalidPage, ResetPasswordPage } from '../views/password-reset';

/**
 * Password reset: /forgot asks for a link, the mailed link opens
 * /reset-password, which sets the new password (services/password-reset.ts).
 */
export const passwordReset = new Hono<AppEnv>();

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf] as const;
const forgotForm = z.object({ email: emailSchema, csrf_token: z.string() });
const resetForm = z.object({ token: opaqueTokenParam, password: passwordSchema, csrf_token: z.string() });
/** A link's token in the query: a bad or repeated one is no token (the page says the link does not work). */
const linkQuery = z.object({ token: opaqueTokenParam.optional().catch(undefined) });

passwordReset.get('/forgot', function forgotPage(c) {
  return c.html(<ForgotPage csrf={csrfToken(c)} />);
});

/**
 * The same answer for every well-formed address, with or without an
 * account: a 303 to /forgot/sent, after the same work (the rate limits, and
 * the reset scheduled after the response: waitUntil), so neither the page,
 * the status, the headers nor the time tells (OWASP Forgot Password Cheat
 * Sheet). Limited per client network and per address (429 alike for all).
 */
passwordReset.post('/forgot', ...formPost, async function askForReset(c) {
  const body = await c.req.parseBody();
  const form = forgotForm.safeParse(body);
  if (!form.success) {
    const email = typeof body.email === 'string' ? body.email.slice(0, 254) : undefined;
    const error = `Enter the email address of your account: ${describeIssues(form.error.issues)}.`;
    return c.html(<ForgotPage csrf={csrfToken(c)} email={email} error={error} />, 400);
  }
  const { deps } = c.var;
  const network = clientNetwork(c);
  const [networkOver, addressOver] = await Promise.all([
    network ? overLimit(deps, 'passwordResetNetwork', network) : false,
    overLimit(deps, 'mailAddress', form.data.email),
  ]);
  if (networkOver || addressOver) {
    const error = 'Too many reset requests. Wait a minute and try again.';
    return c.html(<ForgotPage csrf={csrfToken(c)} email={form.data.email} error={error} />, 429, {
      'Retry-After': String(RATE_LIMIT_WINDOW),
    });
  }
  afterResponse(c, requestPasswordReset(deps, form.data.email));
  return c.redirect('/forgot/sent', 303);
});

passwordReset.get('/forgot/sent', function resetSentPage(c) {
  return c.html(<ForgotSentPage minutes={PASSWORD_RESET_TTL / 60} />);
});

passwordReset.get(RESET_PASSWORD_PATH, validatePage('query', linkQuery), async function resetPasswordPage(c) {
  const { token } = c.req.valid('query');
  if (!token || !(await isLiveResetLink(c.var.deps, token))) return c.html(<ResetLinkInvalidPage />, 400);
  return c.html(<ResetPasswordPage csrf={csrfToken(c)} token={token} />);
});

passwordReset.post(RESET_PASSWORD_PATH, ...formPost, async function setNewPassword(c) {
  const body = await c.req.parseBody();
  const form = await resetForm.safeParseAsync(body);
  if (!form.success) {
    const token = opaqueTokenParam.safeParse(body.token);
    if (!token.success) return c.html(<ResetLinkInvalidPage />, 400);
    const password = form.error.issues.find((issue) => issue.path[0] === 'password');
    const error = password ? `This password ${password.message}.` : describeIssues(form.error.issues);
    return c.html(<ResetPasswordPage csrf={csrfToken(c)} token={token.data} error={error} />, 400);
  }
  if (!(await resetPassword(c.var.deps, form.data.token, form.data.password, clientIp(c)))) {
    return c.html(<ResetLinkInvalidPage />, 400);
  }
  return c.redirect(`${RESET_PASSWORD_PATH}/done`, 303);
});

passwordReset.get(`${RESET_PASSWORD_PATH}/done`, function resetDonePage(c) {
  return c.html(<ResetDonePage />);
});
