import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { createDeps } from '../../src/deps';
import { DEV_MAILBOX_REFUSED, devMailboxEnabled, mailerFor } from '../../src/services/mailer';

// The dev mailbox keeps every mail, reset links included, in clear, and lists
// them to anyone at /dev/mailbox. It must never run in a deployment: with
// DEV_MAILBOX=true and an issuer that is not http on a loopback host, every
// request fails closed (server_error) and no mail is kept or listed.

const DEPLOYED = ['https://auth.example.com', 'https://localhost', 'http://auth.example.com', 'http://10.0.0.5:8787'];

describe('DEV_MAILBOX under a deployed issuer', () => {
  it.each(DEPLOYED)('%s: /dev/mailbox and every other page answer server_error, listing nothing', async (issuer) => {
    const bindings = { ...env, ISSUER: issuer, DEV_MAILBOX: 'true' };
    for (const path of ['/dev/mailbox', '/login', '/.well-known/openid-configuration']) {
      const response = await app.request(`${issuer}${path}`, { headers: { Accept: 'application/json' } }, bindings);
      expect(response.status, path).toBe(500);
      const body = (await response.json()) as { error: string; error_description: string };
      expect(body.error).toBe('server_error');
      expect(body.error_description).toBe(DEV_MAILBOX_REFUSED);
    }
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
