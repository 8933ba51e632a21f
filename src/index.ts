import { app } from './app';
import type { Bindings } from './env';
import { rotateSigningKeys } from './services/keys';
import { createDb } from './storage/db';

export { app };

/** The Worker: every request goes through the Hono app; the Cron Trigger rotates signing keys. */
export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(
      rotateSigningKeys(createDb(env.DB), env).then((result) => {
        // Key ids are public (they are in the JWKS); nothing secret is logged.
        console.log('signing key rotation:', JSON.stringify(result));
      }),
    );
  },
} satisfies ExportedHandler<Bindings>;
