import { applyD1Migrations, env } from 'cloudflare:test';

// The same SQL migrations wrangler applies, against the test's real local D1.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
