import { type Handler, Hono } from 'hono';
import { z } from 'zod';
import { DEMO_SPA_CLIENT_ID } from '../config';
import type { AppEnv } from '../env';
import { clientValueParam, issuerParam, keywordParam, opaqueTokenParam } from '../lib/params';
import { validatePage } from '../middleware/validate';
import { DemoAppPage } from '../views/demo-app';
import { DemoCallbackPage } from '../views/demo-callback';

/**
 * The demo apps: a single-page app at /demo (the seeded public client, whose
 * scripts are the static assets /demo/app.js and /demo/dpop.js), and
 * /demo/callback, where the seeded confidential client lands so the curl
 * walkthrough needs no app.
 */
export const demo = new Hono<AppEnv>();

demo.get('/', function demoApp(c) {
  const issuer = c.var.deps.issuer;
  return c.html(<DemoAppPage issuer={issuer} clientId={DEMO_SPA_CLIENT_ID} redirectUri={`${issuer}/demo`} />);
});

/** RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2: what an authorization response carries back. */
const callbackQuery = z.object({
  code: opaqueTokenParam.optional(),
  state: clientValueParam.optional(),
  iss: issuerParam.optional(),
  error: keywordParam.optional(),
});

/** The SPA's modules, static files in public/demo/ served through the Worker so they get the security headers. */
const demoScript: Handler<AppEnv> = async function demoScript(c) {
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  // A fetched response's headers are immutable; copy it so the security headers can be added.
  return new Response(asset.body, asset);
};
demo.get('/app.js', demoScript);
// The DPoP module app.js imports (RFC 9449: its key pair, proofs and nonces).
demo.get('/dpop.js', demoScript);

demo.get('/callback', validatePage('query', callbackQuery, 'This is not an authorization response'), function demoCallback(c) {
  c.header('Cache-Control', 'no-store');
  return c.html(<DemoCallbackPage {...c.req.valid('query')} />);
});
