import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../env';
import { validate } from '../middleware/validate';
import { DemoCallbackPage } from '../views/demo-callback';

/** The redirect target of the seeded demo clients, so the walkthrough needs no app of its own. */
export const demo = new Hono<AppEnv>();

const callbackQuery = z.object({
  code: z.string().max(256).optional(),
  state: z.string().max(1000).optional(),
  iss: z.string().max(500).optional(),
  error: z.string().max(100).optional(),
});

demo.get('/callback', validate('query', callbackQuery), function demoCallback(c) {
  c.header('Cache-Control', 'no-store');
  return c.html(<DemoCallbackPage {...c.req.valid('query')} />);
});
