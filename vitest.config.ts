import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

const migrations = await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url)));

// Upstream identity providers (issue 17), all played by test/stand-ins/upstream-provider.js:
// two OpenID providers (mix-up between them is tested) and GitHub.
const UPSTREAM_TEST_BINDINGS = {
  UPSTREAM_PROVIDERS: JSON.stringify([
    { id: 'idp', name: 'Example ID', type: 'oidc', issuer: 'https://idp.example', client_id: 'tollgate-test' },
    { id: 'idp-two', name: 'Second ID', type: 'oidc', issuer: 'https://idp2.example', client_id: 'tollgate-test' },
    { id: 'gh', name: 'GitHub', type: 'github', client_id: 'gh-test' },
  ]),
  UPSTREAM_IDP_CLIENT_SECRET: 'upstream-secret',
  UPSTREAM_IDP_TWO_CLIENT_SECRET: 'upstream-secret-2',
  UPSTREAM_GH_CLIENT_SECRET: 'github-secret',
};

// Tests run inside workerd with the bindings of wrangler.toml: real local D1 and KV.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        // DEV_MAILBOX: mail is kept in D1 and read at /dev/mailbox (the issuer
        // is http://localhost, where it is allowed); test/security/dev-mailbox-https.test.ts
        // checks it is refused under an https issuer.
        bindings: { TEST_MIGRATIONS: migrations, DEV_MAILBOX: 'true', ...UPSTREAM_TEST_BINDINGS },
        // A Cloudflare Email send_email binding (Miniflare's: it parses the MIME
        // and checks the sender), for the Cloudflare Email adapter's tests.
        email: { send_email: [{ name: 'SEND_EMAIL', allowed_sender_addresses: ['auth@tollgate.example'] }] },
        // A database no setup file migrates: test/migrations.test.ts applies
        // migrations one by one to it, with rows in place, as production sees them.
        d1Databases: { MIGRATION_DB: 'migration-test' },
        ratelimits: {
          // Suites register dozens of clients for one user within a minute; a
          // real user registers a few. The production limit (wrangler.toml)
          // is tested through TIGHT_LIMITER instead, swapped in per request.
          REGISTRATION_LIMITER: { simple: { limit: 100_000, period: 60 } },
          OPEN_REGISTRATION_LIMITER: { simple: { limit: 100_000, period: 60 } },
          // Device-flow suites type many user codes from one network and account.
          USER_CODE_IP_LIMITER: { simple: { limit: 100_000, period: 60 } },
          USER_CODE_ACCOUNT_LIMITER: { simple: { limit: 100_000, period: 60 } },
          DEVICE_AUTHORIZATION_IP_LIMITER: { simple: { limit: 100_000, period: 60 } },
          PUSHED_REQUEST_IP_LIMITER: { simple: { limit: 100_000, period: 60 } },
          TIGHT_LIMITER: { simple: { limit: 2, period: 60 } },
        },
        // Tests reach no network: every fetch() the Worker makes goes to a
        // local stand-in for Turnstile's siteverify endpoint, a real fetch
        // target that answers siteverify as Cloudflare does, serves client ID
        // metadata documents for https://client.example, and refuses any
        // other request (599) (test/stand-ins/turnstile-siteverify.js).
        outboundService: 'turnstile-siteverify',
        workers: [
          {
            name: 'turnstile-siteverify',
            modules: true,
            scriptPath: './test/stand-ins/turnstile-siteverify.js',
            compatibilityDate: '2026-04-26',
            // Requests to the upstream identity providers' hosts go on to their stand-in.
            serviceBindings: { UPSTREAM: 'upstream-provider' },
          },
          {
            name: 'upstream-provider',
            modules: true,
            scriptPath: './test/stand-ins/upstream-provider.js',
            compatibilityDate: '2026-04-26',
          },
        ],
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 20_000,
    // At least two test files at once, even on a 2-core machine (vitest's
    // default is one fewer than the cores): each file's start-up (a fresh
    // runtime with its own storage) waits on I/O part of the time, so two
    // overlap; measured on 6 files on 2 cores: 49.6 s with one worker, 41.6 s
    // with two, 42.3 s with three.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
