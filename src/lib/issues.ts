// Describing zod issues in one plain line, for an OAuth error description or
// an error page. A leaf utility: the validation middleware and the services
// that parse their own input (services/authorization) both use it, and
// neither layer may import the other for it.

/** A zod issue, as much of it as a description needs. */
export interface Issue {
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
