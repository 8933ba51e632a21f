import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { clientIdParam } from '../lib/params';
import { requireUserToken } from '../middleware/bearer-auth';
import { validate } from '../middleware/validate';
import { removeClient } from '../services/clients';
import { listClientsOfOwner } from '../storage/clients';
import { clientMetadata } from './oauth/register';

/** The signed-in user's own clients (user API token). Secrets are never shown again. */
export const clients = new Hono<AppEnv>();

clients.use(requireUserToken);

clients.get('/', async function listClients(c) {
  const rows = await listClientsOfOwner(c.var.deps.db, c.var.apiUser.userId);
  return c.json(rows.map(clientMetadata));
});

clients.delete('/:id', validate('param', z.object({ id: clientIdParam.min(1) })), async function deleteClient(c) {
  const deleted = await removeClient(c.var.deps, c.var.apiUser.userId, c.req.valid('param').id);
  if (!deleted) throw new OAuthError('not_found', { status: 404, description: 'you have no client with this id' });
  return c.body(null, 204);
});
