// The README's promise, checked on every `npm test`: `npm start` on fresh
// state serves the OpenID configuration within 30 s, with no prompt. It runs
// the real script on a free loopback port with its own temporary state, polls
// 127.0.0.1 only (bounded in time), and stops it by process group id.
import { startTollgate } from './local.mjs';

const DEADLINE_MS = 30_000;
const server = await startTollgate({ deadlineMs: DEADLINE_MS });
const failures = [];
if (!server.metadata) failures.push(`nothing served within ${DEADLINE_MS / 1000} s`);
else if (server.metadata.issuer !== server.baseUrl) failures.push(`issuer is ${server.metadata.issuer}`);
for (const expected of ['Demo user', 'client_secret', '/oauth2/authorize?']) {
  if (!server.output().includes(expected)) failures.push(`npm start did not print ${expected}`);
}
const output = server.output();
await server.stop();

if (failures.length > 0) {
  console.error(output.slice(-4000));
  console.error(`npm start smoke test failed: ${failures.join('; ')}`);
  console.log('start smoke: 0 passed, 1 failed');
  process.exit(1);
}
console.log(`npm start served /.well-known/openid-configuration after ${(server.elapsedMs / 1000).toFixed(1)} s`);
console.log('start smoke: 1 passed, 0 failed');
