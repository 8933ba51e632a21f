import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, signedInBrowser } from '../helpers';
import { addPasskey, postSignIn, SoftAuthenticator, signInOptions, signInWithPasskey } from '../webauthn-authenticator';

// W3C WebAuthn §6.1.1: an authenticator that keeps a signature counter
// increases it at every assertion; a counter that does not grow (while either
// the stored or the received one is non-zero) means two copies of the private
// key are in use, so the assertion is refused and the event audited. And an
// assertion signs in the credential's owner only: it must be a credential of
// the account the username-first ceremony was bound to, and match the user
// handle the authenticator returned (§7.2 step 6).

async function counterOf(id: string): Promise<number> {
  return (await env.DB.prepare('select counter from passkeys where id = ?').bind(id).first<{ counter: number }>())!.counter;
}

async function lastAudit(userId: string): Promise<string | undefined> {
  return (
    await env.DB.prepare('select type from audit_events where user_id = ? order by id desc limit 1').bind(userId).first<{ type: string }>()
  )?.type;
}

async function userWithPasskey(options: { counterStep?: number } = {}) {
  const user = await createUser();
  const authenticator = new SoftAuthenticator(options);
  expect((await addPasskey(await signedInBrowser(user), authenticator)).status).toBe(303);
  return { user, authenticator, id: authenticator.credentials[0]!.id };
}

describe('backup eligibility (W3C WebAuthn §6.1.3: the BE flag never changes for a credential)', () => {
  it('a single-device passkey that answers as a synced one is refused; the stored one is unchanged', async () => {
    const { authenticator, id } = await userWithPasskey();
    const synced = new SoftAuthenticator({ synced: true });
    synced.credentials.push(...authenticator.credentials);
    const browser = new Browser();
    expect((await signInWithPasskey(browser, synced)).status).toBe(401);
    expect(browser.cookies.has('tg_session')).toBe(false);
    const row = await env.DB.prepare('select device_type, backed_up, counter from passkeys where id = ?').bind(id).first();
    expect(row).toEqual({ device_type: 'singleDevice', backed_up: 0, counter: 0 });
    // The real one still signs in.
    expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(303);
  });

  it('a synced passkey is stored as multi-device and backed up', async () => {
    const user = await createUser();
    const synced = new SoftAuthenticator({ synced: true });
    expect((await addPasskey(await signedInBrowser(user), synced)).status).toBe(303);
    expect((await signInWithPasskey(new Browser(), synced)).status).toBe(303);
    const row = await env.DB.prepare('select device_type, backed_up from passkeys where id = ?').bind(synced.credentials[0]!.id).first();
    expect(row).toEqual({ device_type: 'multiDevice', backed_up: 1 });
  });
});

describe('WebAuthn signature counter (possible clone)', () => {
  it('a counter that goes back is refused and audited as passkey_clone_suspected; the stored counter stays', async () => {
    const { user, authenticator, id } = await userWithPasskey();
    for (let i = 0; i < 3; i++) expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(303);
    expect(await counterOf(id)).toBe(3);
    // A clone made after the first sign-in still counts from 1.
    const browser = new Browser();
    const response = await signInWithPasskey(browser, authenticator, { overrides: { counter: 2 } });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('it may have been copied');
    expect(browser.cookies.has('tg_session')).toBe(false);
    expect(await counterOf(id)).toBe(3);
    expect(await lastAudit(user.id)).toBe('passkey_clone_suspected');
  });

  it('a counter equal to the stored one is refused too (§6.1.1: it must increase)', async () => {
    const { authenticator, id } = await userWithPasskey();
    expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(303);
    expect((await signInWithPasskey(new Browser(), authenticator, { overrides: { counter: 1 } })).status).toBe(401);
    // A counter of 0 once the stored one is non-zero: also a regression.
    expect((await signInWithPasskey(new Browser(), authenticator, { overrides: { counter: 0 } })).status).toBe(401);
    expect(await counterOf(id)).toBe(1);
  });

  it('a jump forward is fine (the authenticator was used elsewhere)', async () => {
    const { authenticator, id } = await userWithPasskey();
    expect((await signInWithPasskey(new Browser(), authenticator, { overrides: { counter: 1000 } })).status).toBe(303);
    expect(await counterOf(id)).toBe(1000);
  });

  it('an assertion with a bad signature never reaches the counter check (no clone audit for a forger)', async () => {
    const { user, authenticator } = await userWithPasskey();
    expect((await signInWithPasskey(new Browser(), authenticator)).status).toBe(303);
    const browser = new Browser();
    const { csrf, options } = await signInOptions(browser);
    const assertion = await authenticator.get(options, { counter: 1 });
    const signature = assertion.response.signature;
    assertion.response.signature = `${signature.slice(0, -4)}${signature.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    expect((await postSignIn(browser, csrf, assertion)).status).toBe(401);
    expect(await lastAudit(user.id)).toBe('passkey_sign_in_failed');
  });
});

describe('WebAuthn credential binding', () => {
  it('username-first for one account: another user’s credential is refused', async () => {
    const victim = await userWithPasskey();
    const attacker = await userWithPasskey();
    const browser = new Browser();
    const { csrf, options } = await signInOptions(browser, victim.user.email);
    // The attacker answers the victim's ceremony with their own passkey.
    const assertion = await attacker.authenticator.get(options, { credentialId: attacker.id });
    const response = await postSignIn(browser, csrf, assertion);
    expect(response.status).toBe(401);
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('a user handle that is not the credential owner’s is refused', async () => {
    const victim = await userWithPasskey();
    const attacker = await userWithPasskey();
    const handle = victim.authenticator.credentials[0]!.userHandle;
    const browser = new Browser();
    const response = await signInWithPasskey(browser, attacker.authenticator, { overrides: { userHandle: handle } });
    expect(response.status).toBe(401);
    expect(browser.cookies.has('tg_session')).toBe(false);
  });

  it('an assertion signed by another key under a registered credential id is refused', async () => {
    const victim = await userWithPasskey();
    const forger = new SoftAuthenticator();
    // The forger makes a key of their own and labels it with the victim's credential id and user handle.
    await forger.create({
      challenge: 'eA',
      rp: { id: 'localhost', name: 'x' },
      user: { id: victim.authenticator.credentials[0]!.userHandle, name: 'x', displayName: 'x' },
    });
    forger.credentials[0] = { ...forger.credentials[0]!, id: victim.id };
    const browser = new Browser();
    expect((await signInWithPasskey(browser, forger)).status).toBe(401);
    expect(browser.cookies.has('tg_session')).toBe(false);
    expect(await counterOf(victim.id)).toBe(0);
  });
});
