import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { ZodType } from 'zod';
import { type ErrorCode, OAuthError, PageError } from '../errors';

// The one place that runs a zod schema over a request. Nothing else imports
// zValidator: without a hook it answers zod's own result object
// (`{"success":false,"error":{"name":"ZodError",…}}`), which no endpoint may
// show. JSON endpoints answer the OAuth error shape (`validate`), pages an
// HTML error page (`validatePage`).

/** A zod issue, as much of it as a description needs. */
interface Issue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  expected?: unknown;
}

/** What a description can say beyond zod's own message. */
export interface DescribeOptions {
  /**
   * The value that was parsed. In a form body or a query, Hono hands a
   * parameter sent twice over as an array: with the input at hand, such an
   * issue says "must not be repeated" whatever the schema's message is.
   */
  input?: unknown;
  /** The rule that forbids a repeated parameter at this endpoint, cited after it, e.g. `RFC 6749 §3.2`. */
  repeatedRule?: string | undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: Issue, options: DescribeOptions): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'invalid_type') {
    // A JSON body that is an array, a string, a number or null: zod says "expected object, received array".
    if (issue.path.length === 0 && issue.expected === 'object') return 'the body must be a JSON object';
    if (options.input !== undefined && Array.isArray(valueAt(options.input, issue.path))) {
      return `${path} must not be repeated${options.repeatedRule ? ` (${options.repeatedRule})` : ''}`;
    }
  }
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** One line that says what is wrong with the input, e.g. `email: is not a valid email address`. */
export function describeIssues(issues: readonly Issue[], options: DescribeOptions = {}): string {
  return issues
    .slice(0, 3)
    .map((issue) => describeIssue(issue, options))
    .join('; ');
}

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
