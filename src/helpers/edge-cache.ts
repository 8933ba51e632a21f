import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { base64url } from '../lib/crypto';

/**
 * Public documents (metadata, JWKS, protected resource metadata): their
 * answers with a strong ETag, so a client that holds one is answered 304
 * without the body (RFC 9110 §13.1.2), and a copy of the JWKS kept at the PoP
 * through the Workers Cache API (`caches.default`).
 *
 * The Cache API keeps a copy in the data centre that stored it, nowhere else,
 * and does nothing on *.workers.dev (developers.cloudflare.com/workers/runtime-apis/cache/):
 * a copy saves work only where the answer costs a D1 read (the JWKS of a cold
 * isolate); answers built from the issuer and settings alone are cheaper to
 * build than to look up. A copy can never be purged everywhere at once, so
 * what bounds its staleness is its age, checked here on every read, not a purge.
 */

/** A document as served: its body and its strong ETag. */
export interface PublicDocument {
  body: string;
  etag: string;
}

/** A stored copy's time of storing, ms since the epoch: what the age bound is checked against. */
const STORED_AT_HEADER = 'X-Tollgate-Stored-At';

/** A strong ETag (RFC 9110 §8.8.3): the first 128 bits of the body's SHA-256, so it changes whenever the body does. */
export async function publicDocument(body: string): Promise<PublicDocument> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)));
  return { body, etag: `"${base64url(digest.slice(0, 16))}"` };
}

/**
 * Whether `If-None-Match` names this ETag (RFC 9110 §13.1.2: a list, weak
 * comparison, or `*`). A malformed header matches nothing, so the full body is sent.
 */
function notModified(c: Context<AppEnv>, etag: string): boolean {
  const header = c.req.header('If-None-Match');
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/** The document as JSON with its ETag and Cache-Control; 304 without a body when the client already holds it. */
export function documentResponse(c: Context<AppEnv>, document: PublicDocument, cacheControl: string): Response {
  const headers = { ETag: document.etag, 'Cache-Control': cacheControl };
  // RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have.
  if (notModified(c, document.etag)) return c.body(null, 304, headers);
  return c.body(document.body, 200, { ...headers, 'Content-Type': 'application/json' });
}

/** The PoP's cache, where the runtime has one. */
function edgeCache(): Cache | null {
  return typeof caches === 'undefined' ? null : (caches as unknown as { default: Cache }).default;
}

/**
 * The key a document is kept under at the PoP: this host and the document's
 * path, never the request's query, so `?anything` cannot make every request
 * a miss (and a D1 read).
 */
export function edgeKey(c: Context<AppEnv>, path: string): string {
  return new URL(path, c.req.url).href;
}

/**
 * The PoP's copy of a document, if it was stored less than `maxAge` seconds
 * ago and after `notBefore` (ms since the epoch; the last time this isolate
 * learned the document's inputs changed). Anything else is a miss.
 */
export async function fromEdge(key: string, { maxAge, notBefore }: { maxAge: number; notBefore: number }): Promise<PublicDocument | null> {
  const cache = edgeCache();
  // A cache that fails to answer is a miss: the document is built as without one.
  const copy = cache ? await cache.match(key).catch(() => undefined) : undefined;
  if (!copy) return null;
  const storedAt = Number(copy.headers.get(STORED_AT_HEADER));
  const etag = copy.headers.get('ETag');
  // Strictly after `notBefore`: a copy stored in the same millisecond as the change may predate it.
  const fresh = Number.isFinite(storedAt) && storedAt > notBefore && Date.now() - storedAt < maxAge * 1000;
  if (!fresh || !etag) {
    await copy.body?.cancel();
    return null;
  }
  return { body: await copy.text(), etag };
}

/**
 * Keeps a copy at the PoP for `maxAge` seconds (the Cache API evicts it then;
 * `fromEdge` checks the age itself as well). After the answer when the
 * runtime allows (`waitUntil`); in a test's `app.request`, before it.
 */
export async function keepAtEdge(c: Context<AppEnv>, key: string, document: PublicDocument, maxAge: number): Promise<void> {
  const cache = edgeCache();
  if (!cache) return;
  const copy = new Response(document.body, {
    headers: {
      'Content-Type': 'application/json',
      ETag: document.etag,
      'Cache-Control': `public, max-age=${maxAge}`,
      [STORED_AT_HEADER]: String(Date.now()),
    },
  });
  // A copy that could not be kept costs the next request a D1 read, never this answer.
  const put = cache.put(key, copy).catch(() => undefined);
  let waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  try {
    const { executionCtx } = c;
    waitUntil = (promise) => executionCtx.waitUntil(promise);
  } catch {
    // No execution context (app.request in tests): store before answering.
  }
  if (waitUntil) waitUntil(put);
  else await put;
}
