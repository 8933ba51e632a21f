import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { ZodType } from 'zod';
import { type ErrorCode, OAuthError } from '../errors';

/** One line that says what is wrong with the input, e.g. `email: Invalid email address`. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string }[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      // Hono turns a repeated form or query parameter into an array; say so plainly.
      if (issue.code === 'invalid_type' && /received array/.test(issue.message)) {
        return `${path} must not be repeated (RFC 6749 §3.1)`;
      }
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/**
 * zValidator with Tollgate's error shape: a failed parse throws
 * `invalid_request` (or the given code) with a description of what is wrong.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends ZodType>(
  target: Target,
  schema: Schema,
  code: ErrorCode = 'invalid_request',
) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new OAuthError(code, { description: describeIssues(result.error.issues) });
    }
  });
}
