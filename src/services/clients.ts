import { z } from 'zod';
import type { Bindings } from '../bindings';
import {
  ANONYMOUS_CLIENT_IDLE_TTL,
  CLIENT_AUTH_METHODS,
  CLIENT_NAME_MAX_LENGTH,
  DEVICE_CODE_GRANT_TYPE,
  GRANT_TYPES,
  MAX_REDIRECT_URIS,
} from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { redirectUriParam, scopeParam } from '../lib/params';
import { auditStatement, recordAudit } from '../storage/audit';
import {
  corsOrigins,
  deleteClientOfOwner,
  deleteClientOriginsStatement,
  deleteIdleUnownedClients,
  insertClientOriginsStatement,
  insertClientStatement,
  upsertDocumentClientStatement,
} from '../storage/clients';
import { clientCredentialsGrantStatement } from '../storage/grants';
import type { Client } from '../storage/schema';
import { redirectUriProblem } from './redirect-uris';
import { isSupportedScope, splitScope } from './scopes';

/**
 * RFC 7591 §2 client metadata, as registered (routes/oauth/register.ts) or
 * read from a client ID metadata document (client-metadata-documents.ts).
 * Unknown fields are ignored (§2: the server "MUST ignore any client metadata
 * ... that it does not understand").
 */
export const clientMetadataSchema = z.object({
  redirect_uris: z.array(redirectUriParam).max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`).optional(),
  post_logout_redirect_uris: z
    .array(redirectUriParam)
    .max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} post-logout redirect URIs`)
    .optional(),
  client_name: z.string().trim().min(1).max(CLIENT_NAME_MAX_LENGTH).optional(),
  token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).default('client_secret_basic'),
  // No more entries than there are grant types (checkClientMetadata folds duplicates).
  grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length).default(['authorization_code']),
  response_types: z.array(z.literal('code', 'only the code response type is supported')).max(1).optional(),
  scope: scopeParam.optional(),
});
export type ClientMetadataInput = z.infer<typeof clientMetadataSchema>;

function invalidMetadata(description: string): OAuthError {
  return new OAuthError('invalid_client_metadata', { description });
}

/**
 * The checks zod cannot express: how the fields fit together (RFC 7591
 * §2.1), and every redirect URI by the rules of services/redirect-uris.ts.
 * Throws OAuthError (invalid_redirect_uri, invalid_client_metadata).
 */
export function checkClientMetadata(input: ClientMetadataInput) {
  const grantTypes = [...new Set(input.grant_types)];
  const redirectUris = [...new Set(input.redirect_uris ?? [])];
  const usesCode = grantTypes.includes('authorization_code');
  if (usesCode && redirectUris.length === 0) {
    throw new OAuthError('invalid_redirect_uri', { description: 'redirect_uris is required for the authorization_code grant' });
  }
  const postLogoutRedirectUris = [...new Set(input.post_logout_redirect_uris ?? [])];
  for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new OAuthError('invalid_redirect_uri', { description: `redirect URI ${uri.slice(0, 200)} ${problem}` });
  }
  // A refresh token comes from a user's grant: the code flow's or the device flow's (RFC 8628 §3.5).
  // A client registered only for the device grant needs no redirect_uris: it is never redirected to.
  if (grantTypes.includes('refresh_token') && !usesCode && !grantTypes.includes(DEVICE_CODE_GRANT_TYPE)) {
    throw invalidMetadata(`refresh_token needs the authorization_code or ${DEVICE_CODE_GRANT_TYPE} grant`);
  }
  // RFC 7591 §2.1: response_types and grant_types must agree.
  if ((input.response_types?.length ?? (usesCode ? 1 : 0)) > 0 !== usesCode) {
    throw invalidMetadata('response_types code goes with the authorization_code grant, and only with it');
  }
  if (grantTypes.includes('client_credentials') && input.token_endpoint_auth_method === 'none') {
    throw invalidMetadata('client_credentials needs a confidential client (not token_endpoint_auth_method none)');
  }
  let scope: string | null = null;
  if (input.scope !== undefined) {
    const tokens = splitScope(input.scope);
    const unknown = tokens.find((token) => !isSupportedScope(token));
    if (unknown !== undefined) throw invalidMetadata(`unknown scope: ${unknown.slice(0, 64)}`);
    if (tokens.length === 0) throw invalidMetadata('scope is empty');
    scope = tokens.join(' ');
  }
  return { redirectUris, postLogoutRedirectUris, grantTypes, scope };
}

/**
 * Whether clients that belong to no one are allowed: open registration and
 * client ID metadata documents. `OPEN_REGISTRATION` is `public` by default
 * (unset included); any other value, `off` or a misspelling, turns them off,
 * so a typo fails closed.
 */
export function openRegistration(env: Pick<Bindings, 'OPEN_REGISTRATION'>): boolean {
  return (env.OPEN_REGISTRATION ?? 'public') === 'public';
}

/**
 * Registers a client in one D1 batch (one transaction), so a client never
 * exists half made: its row, the origins CORS will allow for it (a public
 * client's web redirect origins), its own grant when it may use
 * client_credentials (the grant its tokens are issued under), and the audit
 * event `client_created` (with no user for a client nobody owns).
 */
export async function createClient(deps: Deps, client: Client): Promise<void> {
  const { db } = deps;
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  await db.batch([
    insertClientStatement(db, client),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    ...(client.grantTypes.includes('client_credentials') ? [clientCredentialsGrantStatement(db, client.id)] : []),
    auditStatement(db, { type: 'client_created', userId: client.ownerId, clientId: client.id }),
  ]);
}

/**
 * Stores a client read from its client ID metadata document, new or
 * refreshed, in one D1 batch: the row and its CORS origins (deleted and
 * written anew, as the document may have changed its redirect URIs) change
 * together or not at all. The first time, `client_created` is audited with it.
 */
export async function saveDocumentClient(deps: Deps, client: Client, isNew: boolean): Promise<void> {
  const { db } = deps;
  const [firstOrigin, ...otherOrigins] = corsOrigins(client);
  await db.batch([
    upsertDocumentClientStatement(db, client),
    deleteClientOriginsStatement(db, client.id),
    ...(firstOrigin ? [insertClientOriginsStatement(db, client.id, [firstOrigin, ...otherOrigins])] : []),
    ...(isNew ? [auditStatement(db, { type: 'client_created', userId: null, clientId: client.id })] : []),
  ]);
}

/**
 * Deletes one of the owner's clients, and with it everything issued to it
 * (see `deleteClientOfOwner`), audited `client_deleted`. The event follows the
 * deletion in its own round trip: it is recorded only when the DELETE found
 * the client. Returns false when the owner has no such client.
 */
export async function removeClient(deps: Deps, ownerId: string, clientId: string): Promise<boolean> {
  if (!(await deleteClientOfOwner(deps.db, ownerId, clientId))) return false;
  await recordAudit(deps.db, { type: 'client_deleted', userId: ownerId, clientId });
  return true;
}

/**
 * The Cron Trigger's sweep: clients nobody owns that were created more than
 * ANONYMOUS_CLIENT_IDLE_TTL before `at` and have had no grant made or used
 * since are deleted with what was issued to them. Anyone may register such a
 * client, so abandoned ones must not pile up. Returns how many went.
 */
export async function pruneIdleUnownedClients(deps: Deps, at: number): Promise<number> {
  return deleteIdleUnownedClients(deps.db, at - ANONYMOUS_CLIENT_IDLE_TTL);
}
