import type { ZodType } from 'zod';
import type { GrantType } from '../config';
import type { Deps } from '../deps';
import type { Client } from '../storage/schema';

/** RFC 6749 §5.1 successful token response (plus `id_token`, OIDC Core §3.1.3.3). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  id_token?: string;
  refresh_token?: string;
}

/** A grant type: its name, the parameters it takes, and what it does with them. */
export interface GrantHandler<Params = unknown> {
  grantType: GrantType;
  parameters: ZodType<Params>;
  handler(deps: Deps, client: Client, params: Params): Promise<TokenResponse>;
}

/** Lets handlers with different parameter types sit in one registry. */
export function defineGrant<Params>(grant: GrantHandler<Params>): GrantHandler {
  return grant as GrantHandler;
}
