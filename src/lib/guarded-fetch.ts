import { publicUrlProblem } from './public-urls';

// The one way Tollgate GETs a JSON document at a URL a client named (a client
// ID metadata document, a private_key_jwt client's jwks_uri): the fetch is
// made on a stranger's word, so it is held to the network-safety rules of
// SECURITY.md (server-side request forgery, OWASP; draft-ietf-oauth-client-id-metadata-document
// §6; RFC 9700 §4.x): a public https URL only, no redirect followed (a
// redirect could lead anywhere the URL check refused), the whole exchange
// within a time limit, a 200 JSON answer, and the body read as a stream and
// dropped past a byte limit, so a hostile server can neither hold a request
// open nor fill memory.

/** Why a guarded fetch gave no document; each caller words it in its own error. */
export type GuardedFetchProblem =
  | { kind: 'not-public'; problem: string }
  | { kind: 'unreachable' }
  | { kind: 'timeout' }
  | { kind: 'redirect' }
  | { kind: 'status'; status: number }
  | { kind: 'content-type' }
  | { kind: 'too-large' }
  | { kind: 'not-utf8' }
  | { kind: 'not-json' };

export interface GuardedFetchOptions {
  /** The Accept header sent. */
  accept: string;
  /** Whether the answer's media type (lowercase, parameters dropped) is one the caller reads. */
  acceptsType: (type: string) => boolean;
  /** Headers and body must all have arrived within this. Seconds. */
  timeout: number;
  /** A body longer than this is refused, read no further. Bytes. */
  maxBytes: number;
  /** The caller's error for a problem; it is thrown as is (its message is what the client is told). */
  refuse: (problem: GuardedFetchProblem) => Error;
}

/**
 * GETs `url` under the rules above and parses its body as UTF-8 JSON.
 * Returns the parsed body and the answer's headers (for its cache lifetime).
 * Throws `options.refuse(problem)` for every way the document cannot be had.
 */
export async function guardedFetchJson(url: string, options: GuardedFetchOptions): Promise<{ body: unknown; headers: Headers }> {
  const { refuse } = options;
  // The callers check the URL by their own (stricter) rules first; this is the
  // last line, so that no caller can fetch a private address by forgetting to.
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse({ kind: 'not-public', problem: 'is not a URL' });
  }
  const problem = publicUrlProblem(parsed);
  if (problem) throw refuse({ kind: 'not-public', problem });
  const signal = AbortSignal.timeout(options.timeout * 1000);
  let response: Response;
  try {
    response = await fetch(url, { method: 'GET', redirect: 'manual', signal, headers: { Accept: options.accept } });
  } catch {
    throw refuse(signal.aborted ? { kind: 'timeout' } : { kind: 'unreachable' });
  }
  try {
    if (response.status >= 300 && response.status < 400) throw refuse({ kind: 'redirect' });
    if (response.status !== 200) throw refuse({ kind: 'status', status: response.status });
    const type = (response.headers.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!options.acceptsType(type)) throw refuse({ kind: 'content-type' });
    const bytes = await readAtMost(response, options.maxBytes, {
      tooLarge: () => refuse({ kind: 'too-large' }),
      timeout: { signal, error: () => refuse({ kind: 'timeout' }) },
    });
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw refuse({ kind: 'not-utf8' });
    }
    try {
      return { body: JSON.parse(text), headers: response.headers };
    } catch {
      throw refuse({ kind: 'not-json' });
    }
  } finally {
    // Whatever was not read is not waited for.
    if (!response.bodyUsed) await response.body?.cancel().catch(() => {});
  }
}

/**
 * A response's body bytes, refused (`tooLarge()`) once past `maxBytes`: a
 * declared Content-Length over it before a byte is read, and a stream
 * without one (or lying about it) as it comes, read no further. With a
 * `timeout`, refused with its error when its signal aborts mid-body. For any
 * fetch whose answer comes from someone else's server, so that it can
 * neither fill memory nor hold the request open.
 */
export async function readAtMost(
  response: Response,
  maxBytes: number,
  limits: { tooLarge: () => Error; timeout?: { signal: AbortSignal; error: () => Error } },
): Promise<Uint8Array> {
  if (Number(response.headers.get('Content-Length') ?? 0) > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw limits.tooLarge();
  }
  const body = response.body;
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  // The signal aborts the fetch, but a body already streaming is raced against it too.
  const { timeout } = limits;
  const aborted = new Promise<never>((_, reject) => {
    if (!timeout) return;
    const stop = () => reject(timeout.error());
    if (timeout.signal.aborted) stop();
    else timeout.signal.addEventListener('abort', stop, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) break;
      length += value.byteLength;
      if (length > maxBytes) throw limits.tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
