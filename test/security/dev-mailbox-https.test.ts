import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { createDeps } from '../../src/deps';
import { sendVerificationMail } from '../../src/services/email-verification';
import { DEV_MAILBOX_REFUSED, devMailboxEnabled, mailerFor } from '../../src/services/mailer';
import { requestPasswordReset } from '../../src/services/password-reset';
import { awaitMail, createUser } from '../helpers';

// The dev mailbox keeps every mail, reset links included, in clear, and lists
// them to anyone at /dev/mailbox. It must never run in a deployment: with
// DEV_MAILBOX=true and an issuer that is not http on a loopback host,
// /dev/mailbox and every mail fail closed (server_error, logged) and no mail
// is kept.

const DEPLOYED = ['https://auth.example.com', 'https://localhost', 'http://auth.example.com', 'http://10.0.0.5:8787'];

async function keptMailTo(email: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM dev_mailbox WHERE to_address = ?').bind(email).first<{ n: number }>();
  return row!.n;
}

describe('DEV_MAILBOX under a deployed issuer', () => {
  it.each(DEPLOYED)('%s: /dev/mailbox answers server_error, listing nothing', async (issuer) => {
    const bindings = { ...env, ISSUER: issuer, DEV_MAILBOX: 'true' };
    const response = await app.request(`${issuer}/dev/mailbox`, { headers: { Accept: 'application/json' } }, bindings);
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body).toEqual({ error: 'server_error', error_description: DEV_MAILBOX_REFUSED });
  });

  it('a sign-up and a reset request under https keep no mail (the mailer is refused)', async () => {
    const issuer = 'https://auth.example.com';
    const bindings = { ...env, ISSUER: issuer, DEV_MAILBOX: 'true' };
    const user = await createUser();
    await awaitMail(user.email, 'Confirm your email address'); // the sign-up's own mail, on the loopback issuer
    const before = await keptMailTo(user.email);
    // Both never throw (they run after a response): the refusal is logged, and nothing is kept.
    await requestPasswordReset(createDeps(bindings), user.email);
    await sendVerificationMail(createDeps(bindings), { email: user.email, name: user.name });
    expect(await keptMailTo(user.email)).toBe(before);
  });

  it.each(DEPLOYED)('%s: no mailer is handed out', (issuer) => {
    expect(() => devMailboxEnabled({ ISSUER: issuer, DEV_MAILBOX: 'true' })).toThrow(DEV_MAILBOX_REFUSED);
    expect(() => mailerFor(createDeps({ ...env, ISSUER: issuer, DEV_MAILBOX: 'true' }))).toThrow(DEV_MAILBOX_REFUSED);
  });

  it('is allowed on a loopback http issuer only (npm start), and off unless exactly "true"', () => {
    for (const issuer of ['http://localhost:8787', 'http://127.0.0.1:9999', 'http://[::1]:8787']) {
      expect(devMailboxEnabled({ ISSUER: issuer, DEV_MAILBOX: 'true' }), issuer).toBe(true);
    }
    for (const value of [undefined, '', 'false', '1', 'TRUE']) {
      expect(devMailboxEnabled({ ISSUER: 'https://auth.example.com', DEV_MAILBOX: value }), String(value)).toBe(false);
    }
  });
});
