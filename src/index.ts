import { app } from './app';

export { app };

/** The Worker: every request goes through the Hono app. */
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<import('./env').Bindings>;
