import { AUTH_REQUEST_TTL, kvTtl } from '../config';
import { randomSecret } from '../lib/crypto';

/** KV key prefix of a pending authorization request; the rest is its random id. */
const KV_PREFIX = 'authreq:';

/**
 * A validated authorization request waiting for the user: it carries the
 * request between `/oauth2/authorize`, `/login` and the consent page, so that
 * nothing the client sent has to be trusted again from a form.
 */
export interface AuthRequest {
  id: string;
  clientId: string;
  redirectUri: string;
  scope: string[];
  state: string | null;
  nonce: string | null;
  codeChallenge: string;
  prompt: string[];
  maxAge: number | null;
  /** OIDC Core §3.1.2.1 login_hint: the email to prefill on the sign-in page. */
  loginHint: string | null;
  /** When the request arrived; `prompt=login` needs an authentication after it. Seconds. */
  createdAt: number;
  /** The user the consent page was shown to; only they may answer it. */
  userId: string | null;
}

export function newAuthRequestId(): string {
  return randomSecret();
}

export async function saveAuthRequest(kv: KVNamespace, request: AuthRequest): Promise<void> {
  await kv.put(KV_PREFIX + request.id, JSON.stringify(request), { expirationTtl: kvTtl(AUTH_REQUEST_TTL) });
}

export async function loadAuthRequest(kv: KVNamespace, id: string): Promise<AuthRequest | null> {
  const request = await kv.get<AuthRequest>(KV_PREFIX + id, 'json');
  // KV expiry is lazy; the request's own age is what counts.
  return request && request.createdAt + AUTH_REQUEST_TTL > Math.floor(Date.now() / 1000) ? request : null;
}

export async function deleteAuthRequest(kv: KVNamespace, id: string): Promise<void> {
  await kv.delete(KV_PREFIX + id);
}
