import { AUTH_REQUEST_TTL, kvTtl } from '../config';
import { randomSecret } from '../lib/crypto';

/** KV key prefix of a pending authorization request; the rest is its random id. */
const KV_PREFIX = 'authreq:';

/**
 * What storage needs of a pending authorization request: its key and its age.
 * The request itself (services/authorization/request.ts) is kept as JSON,
 * whole, while a signed-in user decides on the consent page. A request that
 * sends the browser to sign in is not kept here but in the browser, sealed
 * (services/authorization/sealed-request.ts), so an anonymous visitor writes
 * nothing to KV.
 */
export interface PendingRequest {
  /** Random, 256 bits (newAuthRequestId). */
  id: string;
  /** When the request arrived, seconds: it lives AUTH_REQUEST_TTL from then. */
  createdAt: number;
}

export function newAuthRequestId(): string {
  return randomSecret();
}

export async function saveAuthRequest(kv: KVNamespace, request: PendingRequest): Promise<void> {
  await kv.put(KV_PREFIX + request.id, JSON.stringify(request), { expirationTtl: kvTtl(AUTH_REQUEST_TTL) });
}

/** The request kept under `id`, as the caller saved it (`T`), while it is younger than AUTH_REQUEST_TTL. */
export async function loadAuthRequest<T extends PendingRequest>(kv: KVNamespace, id: string): Promise<T | null> {
  const request = await kv.get<T>(KV_PREFIX + id, 'json');
  // KV expiry is lazy; the request's own age is what counts.
  return request && request.createdAt + AUTH_REQUEST_TTL > Math.floor(Date.now() / 1000) ? request : null;
}

export async function deleteAuthRequest(kv: KVNamespace, id: string): Promise<void> {
  await kv.delete(KV_PREFIX + id);
}
