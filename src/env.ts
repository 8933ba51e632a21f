import type { Bindings } from './bindings';
import type { Deps } from './deps';
import type { AccessTokenInfo } from './services/tokens';
import type { StandingUserApiToken } from './services/user-api-tokens';
import type { Client } from './storage/schema';
import type { SessionInfo } from './storage/sessions';

export type { Bindings };

/**
 * Hono's environment for every route and middleware: the bindings, and what
 * middleware puts on the context for the handlers after it. Only the HTTP
 * layer (app, routes, middleware) imports this; services take `Deps`.
 */
export type AppEnv = {
  Bindings: Bindings;
  Variables: {
    /** Set once per request (app.tsx): what services are handed. */
    deps: Deps;
    session: SessionInfo | null;
    apiUser: StandingUserApiToken;
    accessToken: AccessTokenInfo;
    client: Client;
    /**
     * The Origin of a cross-origin call to a CORS endpoint for clients
     * (middleware/cors.ts), for the bearer check to ask about in its batch.
     */
    corsOrigin: string;
    /** Whether `corsOrigin` is a web origin of the access token's client: the bearer check's answer, when it asked. */
    originOfCaller: boolean;
    cspNonce: string;
  };
};
