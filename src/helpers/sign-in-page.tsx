import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from '../env';
import { csrfToken } from '../middleware/csrf';
import { providerButtons } from '../services/upstream-providers';
import { LoginPage, type LoginPageProps } from '../views/auth-pages';

/** What a render of the sign-in page says; the rest (CSRF token, provider buttons) comes from the request. */
export type SignInPageOptions = Omit<LoginPageProps, 'csrf' | 'upstream'>;

/**
 * The sign-in page, as every route renders it (a plain GET, a wrong password,
 * a refused passkey, an expired two-factor step, a rate limit): one place that
 * adds this request's CSRF token and the configured "Continue with <name>"
 * buttons (issue 17), so no error page loses a way to sign in.
 */
export function signInPage(
  c: Context<AppEnv>,
  options: SignInPageOptions,
  status: ContentfulStatusCode = 200,
  headers: Record<string, string> = {},
): Response | Promise<Response> {
  return c.html(<LoginPage {...options} csrf={csrfToken(c)} upstream={providerButtons(c.env)} />, status, headers);
}
