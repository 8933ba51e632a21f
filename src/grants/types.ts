import type { ZodType } from 'zod';
import type { GrantType } from '../config';
import type { Deps } from '../deps';
import type { PendingClient } from '../services/client-authentication';
import type { DpopProof } from '../services/dpop';

/** RFC 6749 §5.1 successful token response (plus `id_token`, OIDC Core §3.1.3.3). */
export interface TokenResponse {
  access_token: string;
  /** RFC 9449 §5: DPoP for a token bound to the proof's key. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  id_token?: string;
  refresh_token?: string;
}

/**
 * A grant type: its name, the parameters it takes, and what it does with
 * them. The handler gets the client as presented, not yet authenticated: it
 * authenticates it in its own D1 batch (services/client-authentication.ts),
 * or alone with `client.authenticate()` when it has no batch, before it
 * issues anything.
 */
export interface GrantHandler<Params = unknown> {
  grantType: GrantType;
  parameters: ZodType<Params>;
  /** `dpop`: the request's checked DPoP proof (RFC 9449 §5), whose single use the grant's batch records; null: none sent. */
  handler(deps: Deps, client: PendingClient, params: Params, dpop: DpopProof | null): Promise<TokenResponse>;
}

/** Lets handlers with different parameter types sit in one registry. */
export function defineGrant<Params>(grant: GrantHandler<Params>): GrantHandler {
  return grant as GrantHandler;
}
