import { authorizationCode } from './authorization-code';
import { clientCredentials } from './client-credentials';
import { deviceCode } from './device-code';
import { refreshToken } from './refresh-token';
import type { GrantHandler } from './types';

/** Every grant type the token endpoint serves. The token route only dispatches here. */
export const GRANT_HANDLERS: ReadonlyMap<string, GrantHandler> = new Map(
  [authorizationCode, refreshToken, clientCredentials, deviceCode].map((grant) => [grant.grantType, grant]),
);

/** For the metadata documents: what `grant_types_supported` truly is. */
export const SUPPORTED_GRANT_TYPES = [...GRANT_HANDLERS.keys()];

export type { GrantHandler, TokenResponse } from './types';
