import type { Context } from 'hono';

/**
 * Runs work after the response is sent (the Workers execution context's
 * waitUntil): the answer neither waits for it nor shows, by its timing,
 * whether there was any (a mail to an address that has an account). Without
 * an execution context (a test calling `app.request` bare) the work still
 * runs, unawaited. The work must catch its own errors.
 */
export function afterResponse(c: Context, work: Promise<unknown>): void {
  let executionCtx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    executionCtx = c.executionCtx;
  } catch {
    executionCtx = undefined;
  }
  if (executionCtx) executionCtx.waitUntil(work);
  else void work;
}
