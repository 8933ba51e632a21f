import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { ZodType } from 'zod';
import { type ErrorCode, OAuthError, PageError } from '../errors';
import { describeIssues } from '../lib/issues';

// The one place that runs a zod schema over a request. Nothing else imports
// zValidator: without a hook it answers zod's own result object
// (`{"success":false,"error":{"name":"ZodError",…}}`), which no endpoint may
// show. JSON endpoints answer the OAuth error shape (`validate`), pages an
// HTML error page (`validatePage`). The descriptions come from lib/issues.ts.

/** Where a parameter sent twice arrives as an array (Hono's form and query parsing); in JSON an array is just a wrong type. */
function repeatsAsArrays(target: keyof ValidationTargets): boolean {
  return target === 'form' || target === 'query';
}

export interface ValidateOptions {
  /** The error code of a failed parse. `invalid_request` unless told. */
  code?: ErrorCode;
  /** The rule a repeated parameter breaks, cited in the description (e.g. `RFC 6749 §3.2` at the token endpoint). */
  repeatedRule?: string | undefined;
}

/**
 * Validates a JSON endpoint's input with Tollgate's error shape: a failed
 * parse throws `invalid_request` (or `options.code`) with a description of
 * what is wrong, never zod's own error object.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends ZodType>(
  target: Target,
  schema: Schema,
  options: ValidateOptions = {},
) {
  return zValidator(target, schema, function invalidRequest(result) {
    if (!result.success) {
      const input = repeatsAsArrays(target) ? result.data : undefined;
      const description = describeIssues(result.error.issues, { input, repeatedRule: options.repeatedRule });
      throw new OAuthError(options.code ?? 'invalid_request', { description });
    }
  });
}

/**
 * Validates a page's input: a failed parse renders the HTML error page with a
 * plain sentence (`intro`, then what is wrong), never JSON. Where a bad value
 * should be ignored rather than refused, give its schema a `.catch()`.
 */
export function validatePage<Target extends keyof ValidationTargets, Schema extends ZodType>(
  target: Target,
  schema: Schema,
  intro = 'This request is invalid',
) {
  return zValidator(target, schema, function invalidPage(result) {
    if (!result.success) {
      const input = repeatsAsArrays(target) ? result.data : undefined;
      throw new PageError('Invalid request', `${intro}: ${describeIssues(result.error.issues, { input })}.`);
    }
  });
}
