import type { D1Migration } from 'cloudflare:test';
import type { Bindings } from '../src/bindings';

declare global {
  namespace Cloudflare {
    interface Env extends Bindings {
      TEST_MIGRATIONS: D1Migration[];
      /** An empty database for test/migrations.test.ts. */
      MIGRATION_DB: D1Database;
      /** A limiter of 2 per minute, for testing the wiring of each limit. */
      TIGHT_LIMITER: RateLimit;
    }
  }
}
