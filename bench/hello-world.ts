// The runtime's ceiling for `npm run bench`: the smallest Hono Worker there is.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello, world'));

export default app;
