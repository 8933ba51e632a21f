import { Hono } from 'hono';
import { z } from 'zod';
import { DEMO_SPA_CLIENT_ID } from '../config';
import type { AppEnv } from '../env';
import { validate } from '../middleware/validate';
import { DemoAppPage } from '../views/demo-app';
import { DemoCallbackPage } from '../views/demo-callback';

/**
 * The demo apps: a single-page app at /demo (the seeded public client, whose
 * script is the static asset /demo/app.js), and /demo/callback, where the
 * seeded confidential client lands so the curl walkthrough needs no app.
 */
export const demo = new Hono<AppEnv>();

demo.get('/', function demoApp(c) {
  const issuer = c.var.deps.issuer;
  return c.html(<DemoAppPage issuer={issuer} clientId={DEMO_SPA_CLIENT_ID} redirectUri={`${issuer}/demo`} />);
});

const callbackQuery = z.object({
  code: z.string().max(256).optional(),
  state: z.string().max(1000).optional(),
  iss: z.string().max(500).optional(),
  error: z.string().max(100).optional(),
});

demo.get('/app.js', async function demoScript(c) {
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  // A fetched response's headers are immutable; copy it so the security headers can be added.
  return new Response(asset.body, asset);
});

demo.get('/callback', validate('query', callbackQuery), function demoCallback(c) {
  c.header('Cache-Control', 'no-store');
  return c.html(<DemoCallbackPage {...c.req.valid('query')} />);
});
