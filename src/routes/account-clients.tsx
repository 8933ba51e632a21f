import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { CLIENT_NAME_MAX_LENGTH, GRANT_TYPES, MAX_REDIRECT_URIS, REDIRECT_URI_MAX_LENGTH, SCOPES } from '../config';
import { primaryWrite } from '../deps';
import type { AppEnv } from '../env';
import { OAuthError, PageError } from '../errors';
import { writeBookmarkCookie } from '../helpers/cookies';
import { describeIssues } from '../lib/issues';
import { clientIdParam } from '../lib/params';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession } from '../middleware/session';
import {
  clientMetadataSchema,
  registerClient,
  registrationClientUri,
  removeClient,
  rotateSecret,
  updateClientOfOwner,
} from '../services/clients';
import { countAttempt } from '../services/rate-limits';
import { findClientOfOwner } from '../storage/clients';
import type { SessionInfo } from '../storage/sessions';
import {
  AppRegisteredPage,
  developerClient,
  ManageClientPage,
  NewSecretPage,
  RegisterAppPage,
  type RegisterAppValues,
} from '../views/account-clients';

/**
 * The developer section of /account (issue 15 item 6): a signed-in user
 * registers an app, changes its name and redirect URIs, rotates its secret
 * or deletes it, through the same services and rules as the JSON API
 * (POST /oauth2/register, RFC 7592 PUT, DELETE /api/clients/:id). Every form
 * is CSRF-checked (double submit, middleware/csrf.ts), every client is looked
 * up and written with its owner in the SQL, and bad input shows the form again
 * with what is wrong, 4xx, with nothing stored. Writes go through a primary
 * session whose bookmark the browser keeps, so /account, read at a replica,
 * shows them at once (SECURITY.md, "Read replicas", rule 3).
 */
export const accountClients = new Hono<AppEnv>();

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), loadSession, verifyCsrf, requireSignedIn] as const;

/** After loadSession and verifyCsrf: a signed-out browser goes to sign in (the form is lost, as after any expired session). */
async function requireSignedIn(c: Context<AppEnv>, next: () => Promise<void>) {
  if (!c.var.session) return c.redirect('/login?return_to=%2Faccount', 303);
  await next();
}

/** The signed-in user (requireSignedIn ran before). */
function signedInUser(c: Context<AppEnv>): SessionInfo['user'] {
  const session = c.var.session;
  if (!session) throw new PageError('Signed out', 'Sign in again, then go back to your account.', 401);
  return session.user;
}

/** A client id from the path: anything else is the same 404 as another user's client. */
function clientIdFrom(c: Context<AppEnv>): string {
  const parsed = clientIdParam.min(1).safeParse(c.req.param('id'));
  if (!parsed.success) throw notFound();
  return parsed.data;
}

function notFound(): PageError {
  return new PageError('Not found', 'You have registered no such app.', 404);
}

/** A form field sent once arrives as a string, ticked boxes several times as an array (parseBody `all`). */
const oneOrMany = <T extends z.ZodType<string>>(item: T) =>
  z
    .union([item, z.array(item)])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]));

/** The redirect URIs box: one URI per line, at most MAX_REDIRECT_URIS of them. */
const redirectUrisField = z
  .string()
  .max(MAX_REDIRECT_URIS * (REDIRECT_URI_MAX_LENGTH + 2), 'is too long')
  .transform((text) =>
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== ''),
  )
  .default([]);

/** The Register an app form. Its values become RFC 7591 metadata, checked by clientMetadataSchema as a registration is. */
const registerForm = z.object({
  client_name: z.string().max(CLIENT_NAME_MAX_LENGTH * 4),
  redirect_uris: redirectUrisField,
  client_type: z.enum(['public', 'confidential'], 'choose public or confidential'),
  grant_type: oneOrMany(z.enum(GRANT_TYPES)),
  scope: oneOrMany(z.enum(Object.keys(SCOPES) as [keyof typeof SCOPES, ...(keyof typeof SCOPES)[]])),
});

/** What was typed, for the form again; only strings, cut to the form's own limits. */
function typedValues(body: Record<string, unknown>): RegisterAppValues {
  const text = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');
  const list = (value: unknown) => (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
  return {
    name: text(body.client_name, CLIENT_NAME_MAX_LENGTH * 4),
    redirectUris: text(body.redirect_uris, MAX_REDIRECT_URIS * (REDIRECT_URI_MAX_LENGTH + 2)),
    type: body.client_type === 'public' ? 'public' : 'confidential',
    scopes: list(body.scope),
    grantTypes: list(body.grant_type),
  };
}

/** A sentence for a refused registration or update: the service's description, or zod's issues in words. */
function problem(error: unknown): string | undefined {
  if (error instanceof z.ZodError) return `Not saved: ${describeIssues(error.issues)}.`;
  if (error instanceof OAuthError && (error.code === 'invalid_client_metadata' || error.code === 'invalid_redirect_uri')) {
    return `Not saved: ${error.message}.`;
  }
  return undefined;
}

accountClients.post('/', ...formPost, async function registerApp(c) {
  const user = signedInUser(c);
  const body = await c.req.parseBody({ all: true });
  const values = typedValues(body);
  const refuse = (error: string, status: 400 | 429 = 400) =>
    c.html(<RegisterAppPage csrf={csrfToken(c)} values={values} error={error} />, status);
  try {
    const form = registerForm.parse(body);
    // The metadata a POST /oauth2/register would carry, through the same schema and service.
    const input = clientMetadataSchema.parse({
      client_name: form.client_name,
      redirect_uris: form.redirect_uris,
      // A confidential client authenticates with its secret in HTTP Basic (RFC 6749 §2.3.1's must-support).
      token_endpoint_auth_method: form.client_type === 'confidential' ? 'client_secret_basic' : 'none',
      grant_types: form.grant_type,
      scope: form.scope.length > 0 ? form.scope.join(' ') : undefined,
    });
    // The same per-user limit as registration with a user API token.
    await countAttempt(c.var.deps, 'registration', user.id);
    const write = primaryWrite(c.var.deps);
    const { client, secret, registrationToken } = await registerClient({ ...c.var.deps, db: write.db }, user.id, input);
    writeBookmarkCookie(c, write.bookmark());
    const page = (
      <AppRegisteredPage
        clientId={client.id}
        name={client.name}
        secret={secret}
        registrationToken={registrationToken}
        registrationClientUri={registrationClientUri(c.var.deps.issuer, client.id)}
      />
    );
    return c.html(page, 201);
  } catch (error) {
    if (error instanceof OAuthError && error.code === 'too_many_requests') {
      c.header('Retry-After', error.headers['Retry-After'] ?? '60');
      return refuse('Too many registrations. Wait a minute and try again.', 429);
    }
    const message = problem(error);
    if (message) return refuse(message);
    throw error;
  }
});

accountClients.get('/:id', loadSession, async function manageClient(c) {
  if (!c.var.session) return c.redirect('/login?return_to=%2Faccount', 302);
  const client = await findClientOfOwner(c.var.deps.db, c.var.session.user.id, clientIdFrom(c));
  if (!client) throw notFound();
  return c.html(<ManageClientPage csrf={csrfToken(c)} client={developerClient(client)} />);
});

const updateForm = z.object({
  client_name: z.string().max(CLIENT_NAME_MAX_LENGTH * 4),
  redirect_uris: redirectUrisField,
});

accountClients.post('/:id', ...formPost, async function updateApp(c) {
  const user = signedInUser(c);
  const clientId = clientIdFrom(c);
  const body = await c.req.parseBody();
  const current = await findClientOfOwner(c.var.deps.db, user.id, clientId);
  if (!current) throw notFound();
  try {
    const form = updateForm.parse(body);
    // Name and redirect URIs by the registration schema's own rules.
    const input = clientMetadataSchema.pick({ client_name: true, redirect_uris: true }).parse(form);
    const write = primaryWrite(c.var.deps);
    const changes = { name: input.client_name ?? '', redirectUris: input.redirect_uris ?? [] };
    const updated = await updateClientOfOwner({ ...c.var.deps, db: write.db }, user.id, clientId, changes);
    if (!updated) throw notFound();
    writeBookmarkCookie(c, write.bookmark());
    return c.redirect(`/account/clients/${encodeURIComponent(clientId)}`, 303);
  } catch (error) {
    const message = problem(error);
    if (!message) throw error;
    const values = { name: typedValues(body).name, redirectUris: typedValues(body).redirectUris };
    return c.html(<ManageClientPage csrf={csrfToken(c)} client={developerClient(current)} values={values} error={message} />, 400);
  }
});

accountClients.post('/:id/rotate-secret', ...formPost, async function rotateAppSecret(c) {
  const user = signedInUser(c);
  const clientId = clientIdFrom(c);
  const write = primaryWrite(c.var.deps);
  const rotated = await rotateSecret({ ...c.var.deps, db: write.db }, user.id, clientId);
  // Another user's client, a deleted one and a public one (no secret to rotate) alike.
  if (!rotated) throw notFound();
  writeBookmarkCookie(c, write.bookmark());
  return c.html(<NewSecretPage clientId={clientId} name={rotated.name} secret={rotated.secret} />);
});

accountClients.post('/:id/delete', ...formPost, async function deleteApp(c) {
  const user = signedInUser(c);
  const write = primaryWrite(c.var.deps);
  // The cascade of DELETE /api/clients/:id: every grant, code and token issued to it goes with it.
  if (!(await removeClient({ ...c.var.deps, db: write.db }, user.id, clientIdFrom(c)))) throw notFound();
  writeBookmarkCookie(c, write.bookmark());
  return c.redirect('/account', 303);
});
