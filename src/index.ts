import { app } from './app';
import { AUDIT_RETENTION } from './config';
import type { Bindings } from './env';
import { now } from './services/crypto';
import { rotateSigningKeys } from './services/keys';
import { pruneAudit } from './storage/audit';
import { createDb } from './storage/db';

export { app };

/**
 * The Worker: every request goes through the Hono app; the Cron Trigger
 * rotates signing keys and prunes audit events past their retention.
 */
export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    const db = createDb(env.DB);
    ctx.waitUntil(
      Promise.all([
        rotateSigningKeys(db, env).then((result) => {
          // Key ids are public (they are in the JWKS); nothing secret is logged.
          console.log('signing key rotation:', JSON.stringify(result));
        }),
        pruneAudit(db, now() - AUDIT_RETENTION),
      ]),
    );
  },
} satisfies ExportedHandler<Bindings>;
