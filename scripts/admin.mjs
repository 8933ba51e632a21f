// `npm run admin -- grant <email> [--remote]`: makes an existing user an
// admin (the admin console, /admin), and `revoke <email>` takes the role
// away. Local D1 by default, the same state `npm start` uses (--persist-to);
// `--remote` changes the deployed database through wrangler (a Cloudflare login).
// The change and its audit event go in one `wrangler d1 execute` (one
// transaction). Refuses to revoke the last enabled admin.
import { STATE_DIR, wrangler } from './local.mjs';

const USAGE = 'usage: npm run admin -- grant <email> [--remote]\n       npm run admin -- revoke <email> [--remote]';

const args = process.argv.slice(2);
const remote = args.includes('--remote');
const [command, rawEmail, ...rest] = args.filter((arg) => arg !== '--remote');
if (!['grant', 'revoke'].includes(command) || !rawEmail || rest.length > 0) {
  console.error(USAGE);
  process.exit(2);
}
// Emails are stored trimmed and lower-cased. wrangler d1 execute binds no
// parameters, so the address goes into the SQL as a literal: only a plain
// address is accepted, and its quotes (none are allowed) could not escape anyway.
const email = rawEmail.trim().toLowerCase();
if (!/^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z0-9-]+$/.test(email) && !/^[a-z0-9._%+-]+@[a-z0-9-]+$/.test(email)) {
  console.error(`not an email address: ${rawEmail}`);
  process.exit(2);
}
const quoted = `'${email.replaceAll("'", "''")}'`;
const at = Math.floor(Date.now() / 1000);

const change =
  command === 'grant'
    ? `update users set role = 'admin' where email = ${quoted} and role <> 'admin'`
    : `update users set role = 'user' where email = ${quoted} and role = 'admin'
         and exists (select 1 from users as other where other.role = 'admin' and other.disabled_at is null and other.email <> ${quoted})`;
// The audit event only when the update changed the row (changes() of the statement just before).
const audit = `insert into audit_events (at, type, user_id) select ${at}, '${command === 'grant' ? 'admin_granted' : 'admin_revoked'}', id from users where email = ${quoted} and changes() > 0`;
const read = `select role, disabled_at from users where email = ${quoted}`;

const target = remote ? ['--remote'] : ['--local', '--persist-to', STATE_DIR];
if (!remote) await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', STATE_DIR]);
const output = await wrangler(['d1', 'execute', 'DB', ...target, '--json', '--command', `${change}; ${audit}; ${read};`]);
const results = JSON.parse(output.slice(output.indexOf('[')));
const row = results.at(-1)?.results?.[0];
if (!row) {
  console.error(`no user with the email ${email}${remote ? '' : ' in the local database'} (sign up first)`);
  process.exit(1);
}
const wanted = command === 'grant' ? 'admin' : 'user';
if (row.role !== wanted) {
  console.error(`${email} is the last admin: make someone else an admin first`);
  process.exit(1);
}
console.log(
  `${email} is ${command === 'grant' ? 'now an admin: /admin' : 'no longer an admin'}${row.disabled_at ? ' (the account is disabled)' : ''}.`,
);
