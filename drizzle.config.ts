import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes SQL migrations from the schema; wrangler applies them
// (`wrangler d1 migrations apply DB --local | --remote`).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/storage/schema.ts',
  out: './migrations',
});
