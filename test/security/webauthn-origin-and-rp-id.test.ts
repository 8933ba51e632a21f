import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, signedInBrowser } from '../helpers';
import { addPasskey, SoftAuthenticator, signInWithPasskey } from '../webauthn-authenticator';

// Phishing resistance is the point of passkeys (W3C WebAuthn §13.4.9): the
// browser writes the page's origin into the client data and the authenticator
// signs the hash of the RP id, so an assertion made on a look-alike site (or
// for another relying party) does not verify here. Tollgate takes exactly
// one origin, the issuer's, and one RP id, the issuer's host (§7.1 steps 9
// and 13, §7.2 steps 13 and 15).

async function passkeyCount(userId: string): Promise<number> {
  const row = await env.DB.prepare('select count(*) as n from passkeys where user_id = ?').bind(userId).first<{ n: number }>();
  return row!.n;
}

async function userWithPasskey() {
  const user = await createUser();
  const authenticator = new SoftAuthenticator();
  expect((await addPasskey(await signedInBrowser(user), authenticator)).status).toBe(303);
  return { user, authenticator };
}

describe('WebAuthn origin and RP id at registration', () => {
  for (const [what, overrides] of [
    ['a phishing origin', { origin: 'https://tollgate.example.evil' }],
    ['the issuer host on another scheme', { origin: 'https://localhost:8787' }],
    ['the issuer host on another port', { origin: 'http://localhost:8788' }],
    ['another RP id', { rpId: 'evil.example' }],
    ['a parent-domain-looking RP id', { rpId: 'host' }],
    ['a get() client data type', { type: 'webauthn.get' }],
  ] as const) {
    it(`refuses ${what}, storing nothing`, async () => {
      const user = await createUser();
      const browser = await signedInBrowser(user);
      const response = await addPasskey(browser, new SoftAuthenticator(), { overrides });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('The passkey could not be checked.');
      expect(await passkeyCount(user.id)).toBe(0);
    });
  }
});

describe('WebAuthn origin and RP id at sign-in', () => {
  for (const [what, overrides] of [
    ['a phishing origin', { origin: 'https://tollgate.example.evil' }],
    ['the issuer host on another port', { origin: 'http://localhost:9999' }],
    ['another RP id', { rpId: 'evil.example' }],
    ['a create() client data type', { type: 'webauthn.create' }],
    ['a challenge other than the one given', { challenge: 'c29tZXRoaW5nIGVsc2UgZW50aXJlbHkgZGlmZmVyZW50' }],
  ] as const) {
    it(`refuses ${what}: no session, the counter unchanged, the failure audited`, async () => {
      const { user, authenticator } = await userWithPasskey();
      const browser = new Browser();
      const response = await signInWithPasskey(browser, authenticator, { overrides });
      expect(response.status).toBe(401);
      expect(await response.text()).toContain('That passkey could not sign you in.');
      expect(browser.cookies.has('tg_session')).toBe(false);
      const row = await env.DB.prepare('select counter, last_used_at from passkeys where user_id = ?').bind(user.id).first();
      expect(row).toEqual({ counter: 0, last_used_at: null });
      const audit = await env.DB.prepare('select type from audit_events where user_id = ? order by id desc limit 1').bind(user.id).first();
      expect(audit).toEqual({ type: 'passkey_sign_in_failed' });
    });
  }

  it('refuses an assertion without user verification: a passkey sign-in stands for two factors', async () => {
    const user = await createUser();
    const authenticator = new SoftAuthenticator();
    expect((await addPasskey(await signedInBrowser(user), authenticator)).status).toBe(303);
    const unverified = new SoftAuthenticator({ userVerified: false });
    unverified.credentials.push(...authenticator.credentials);
    expect((await signInWithPasskey(new Browser(), unverified)).status).toBe(401);
  });
});
