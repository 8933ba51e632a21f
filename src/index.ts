import { app } from './app';
import type { Bindings } from './bindings';
import { AUDIT_RETENTION, DEVICE_AUTHORIZATION_RETENTION } from './config';
import { createDeps } from './deps';
import { now } from './lib/crypto';
import { pruneIdleUnownedClients } from './services/clients';
import { rotateSigningKeys } from './services/keys';
import { pruneExpiredRows } from './services/retention';
import { pruneAudit } from './storage/audit';
import { pruneDeviceAuthorizations } from './storage/device-authorizations';
import { prunePushedRequests } from './storage/pushed-requests';

export { app };

/**
 * The Worker: every request goes through the Hono app; the Cron Trigger
 * rotates signing keys, prunes audit events past their retention, and
 * removes clients nobody owns that have gone unused (ANONYMOUS_CLIENT_IDLE_TTL)
 * and device authorizations a day after they expired (DEVICE_AUTHORIZATION_RETENTION),
 * and pushed authorization requests (RFC 9126) once expired.
 */
export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    const deps = createDeps(env);
    ctx.waitUntil(
      Promise.all([
        rotateSigningKeys(deps).then((result) => {
          // Key ids are public (they are in the JWKS); nothing secret is logged.
          console.log('signing key rotation:', JSON.stringify(result));
        }),
        pruneAudit(deps.db, now() - AUDIT_RETENTION),
        pruneDeviceAuthorizations(deps.db, now() - DEVICE_AUTHORIZATION_RETENTION),
        // Codes, refresh tokens, sessions and user API tokens a day after they expired (EXPIRED_ROW_RETENTION).
        pruneExpiredRows(deps, now()),
        // Pushed requests live a minute (PUSHED_REQUEST_TTL); a push also clears its client's expired ones.
        prunePushedRequests(deps.db, now()),
        pruneIdleUnownedClients(deps, now()).then((removed) => {
          console.log('idle clients nobody owns removed:', removed);
        }),
      ]),
    );
  },
} satisfies ExportedHandler<Bindings>;
