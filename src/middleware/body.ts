import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MAX_BODY_BYTES } from '../config';
import { OAuthError } from '../errors';

/** Refuses bodies over MAX_BODY_BYTES with 413 before anything reads them. */
export const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new OAuthError('invalid_request', { status: 413, description: `the body is larger than ${MAX_BODY_BYTES} bytes` });
  },
});

/**
 * Requires a body of the given media type, else 415. The OAuth endpoints take
 * `application/x-www-form-urlencoded` (RFC 6749 §4.1.3); the JSON API takes JSON.
 */
export function requireContentType(mediaType: 'application/json' | 'application/x-www-form-urlencoded'): MiddlewareHandler {
  return async function requireContentType(c, next) {
    const type = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== mediaType) {
      throw new OAuthError('invalid_request', { status: 415, description: `Content-Type must be ${mediaType}` });
    }
    await next();
  };
}
