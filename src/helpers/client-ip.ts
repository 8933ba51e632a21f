import type { Context } from 'hono';
import { type NetworkKey, networkKey } from '../lib/network';

/** The client's IP as Cloudflare saw it, for the audit trail; absent locally, where nothing is limited per IP. */
export function clientIp(c: Context): string | null {
  return c.req.header('CF-Connecting-IP') ?? null;
}

/**
 * The client's network (an IPv4 address, or an IPv6 /64; lib/network.ts), the
 * one key of every per-IP limit. Null when the request did not come through
 * Cloudflare (local development).
 */
export function clientNetwork(c: Context): NetworkKey | null {
  const ip = clientIp(c);
  return ip === null ? null : networkKey(ip);
}
