// `npm run reset`: forget all local state (D1, KV, the demo's credentials).
// The next `npm start` migrates and seeds afresh.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from './local.mjs';

rmSync(STATE_DIR, { recursive: true, force: true });
console.log(`Removed local state in ${path.relative(process.cwd(), STATE_DIR) || STATE_DIR}.`);
