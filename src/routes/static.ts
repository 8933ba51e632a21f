import { Hono } from 'hono';
import { STYLESHEET_MAX_AGE } from '../config';
import type { AppEnv } from '../env';

/** The one stylesheet of every page; served, not inlined, so the CSP needs no 'unsafe-inline'. */
const STYLESHEET = `
:root { color-scheme: light dark; --accent: #2557d6; --muted: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: Canvas; color: CanvasText; }
main { max-width: 28rem; margin: 3rem auto; padding: 0 1.25rem; }
.brand { font-weight: 700; letter-spacing: .05em; color: var(--accent); margin: 0; }
h1 { font-size: 1.6rem; margin: .25rem 0 1.25rem; }
h2 { font-size: 1.1rem; margin-top: 1.75rem; }
.field { display: flex; flex-direction: column; gap: .25rem; margin: 0 0 1rem; }
label { font-weight: 600; }
input { font: inherit; padding: .55rem .7rem; border: 1px solid #9ca3af; border-radius: .4rem; width: 100%; }
textarea { font: inherit; padding: .55rem .7rem; border: 1px solid #9ca3af; border-radius: .4rem; width: 100%; }
fieldset { border: 1px solid rgba(127,127,127,.3); border-radius: .4rem; margin: 0 0 1rem; padding: .5rem .75rem; }
legend { font-weight: 600; }
.choice { display: flex; gap: .5rem; align-items: baseline; margin: .3rem 0; }
.choice input { width: auto; }
.choice label { font-weight: 400; }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border-radius: .4rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
.alert { border-left: 4px solid #dc2626; padding: .5rem .75rem; background: rgba(220, 38, 38, .08); }
.scopes li, .apps li { margin: .4rem 0; }
.apps li { display: flex; flex-direction: column; gap: .25rem; padding: .75rem 0; border-bottom: 1px solid rgba(127,127,127,.3); }
.meta { color: var(--muted); font-size: .9rem; }
a { color: var(--accent); }
`;

export const staticAssets = new Hono<AppEnv>();

staticAssets.get('/tollgate.css', function stylesheet(c) {
  return c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': `public, max-age=${STYLESHEET_MAX_AGE}` });
});

/**
 * The passkey ceremonies' module (public/static/passkeys.js), a file for the
 * same reason as the stylesheet; served through the Worker so it gets the
 * security headers.
 */
staticAssets.get('/passkeys.js', async function passkeyModule(c) {
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  // A fetched response's headers are immutable; copy it so the security headers can be added.
  return new Response(asset.body, asset);
});

/**
 * The admin console's files (public/static/admin/): its stylesheet, the
 * dashboard's chart script, and uPlot 1.6.32 (the chart library, kept as the
 * npm package ships it: test/admin-dashboard.test.ts checks the copy is the
 * package's). Served through the Worker for the security headers; only these names.
 */
const ADMIN_FILES = new Set(['admin.css', 'dashboard.js', 'uPlot.iife.min.js', 'uPlot.min.css']);

staticAssets.get('/admin/:file', async function adminFile(c) {
  if (!ADMIN_FILES.has(c.req.param('file'))) return c.notFound();
  const asset = await c.env.ASSETS.fetch(c.req.raw);
  return new Response(asset.body, asset);
});
