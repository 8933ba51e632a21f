import { app } from './app';
import type { Bindings } from './bindings';
import { DEVICE_AUTHORIZATION_RETENTION, KEY_ROTATION_CRON } from './config';
import { createDeps } from './deps';
import { now } from './lib/crypto';
import { pruneIdleUnownedClients } from './services/clients';
import { rotateSigningKeys } from './services/keys';
import { pruneAuditHistory, pruneExpiredRows } from './services/retention';
import { pruneDeviceAuthorizations } from './storage/device-authorizations';
import { prunePushedRequests } from './storage/pushed-requests';

export { app };

/**
 * The Worker: every request goes through the Hono app. Each Cron Trigger run
 * (daily, PRUNE_CRON) prunes audit events past their retention, clients
 * nobody owns that have gone unused (ANONYMOUS_CLIENT_IDLE_TTL), device
 * authorizations a day after they expired (DEVICE_AUTHORIZATION_RETENTION),
 * expired codes, tokens and sessions, and pushed authorization requests
 * (RFC 9126) once expired; the monthly run (KEY_ROTATION_CRON) also rotates
 * the signing keys.
 */
export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const deps = createDeps(env);
    ctx.waitUntil(
      Promise.all([
        controller.cron === KEY_ROTATION_CRON
          ? rotateSigningKeys(deps).then((result) => {
              // Key ids are public (they are in the JWKS); nothing secret is logged.
              console.log('signing key rotation:', JSON.stringify(result));
            })
          : null,
        // Audit events and the dashboard's counters past AUDIT_RETENTION_DAYS (default 90).
        pruneAuditHistory(deps, now()),
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
