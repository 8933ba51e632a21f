import type { Context } from 'hono';

/** The client's IP as Cloudflare saw it; absent locally, where nothing is limited per IP. */
export function clientIp(c: Context): string | null {
  return c.req.header('CF-Connecting-IP') ?? null;
}
