import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { awaitMail, Browser, createUser, hiddenFields, mailedLink, storedHash, type TestUser } from '../helpers';

// OWASP Forgot Password Cheat Sheet: a reset token is random, single use,
// expires, and is stored hashed. Each test tries to use one where it must
// not work and checks that nothing changed.

async function resetLink(user: TestUser): Promise<string> {
  expect((await new Browser().submit('/forgot', { email: user.email })).status).toBe(303);
  const [mail] = await awaitMail(user.email, 'Reset your password');
  return mailedLink(mail!, '/reset-password');
}

async function tokenOf(link: string): Promise<string> {
  return new URL(link, 'http://x').searchParams.get('token')!;
}

/** Posts a new password with a token, as the reset form would (with its CSRF token). */
async function postReset(token: string, password: string): Promise<Response> {
  const browser = new Browser();
  const page = await (await browser.get('/forgot')).text();
  return browser.post('/reset-password', { csrf_token: hiddenFields(page).csrf_token!, token, password });
}

async function passwordHash(user: TestUser): Promise<string> {
  return (await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(user.id).first<{ h: string }>())!.h;
}

async function canSignIn(user: TestUser, password: string): Promise<boolean> {
  return (await new Browser().submit('/login', { email: user.email, password })).status === 303;
}

describe('password reset links: reuse and expiry', () => {
  it('a used link does not work again: the second password is refused and the first stays', async () => {
    const user = await createUser();
    const token = await tokenOf(await resetLink(user));
    expect((await postReset(token, 'first new passphrase')).status).toBe(303);
    const hash = await passwordHash(user);
    const again = await postReset(token, 'second new passphrase');
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('expired or was already used');
    expect(await passwordHash(user)).toBe(hash);
    expect(await canSignIn(user, 'first new passphrase')).toBe(true);
  });

  it('two uses at once: exactly one sets the password (the consuming UPDATE decides)', async () => {
    const user = await createUser();
    const token = await tokenOf(await resetLink(user));
    const answers = await Promise.all([postReset(token, 'racing passphrase one'), postReset(token, 'racing passphrase two')]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([303, 400]);
    const audits = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE user_id = ? AND type = 'password_reset'")
      .bind(user.id)
      .first<{ n: number }>();
    expect(audits?.n).toBe(1);
  });

  it('an expired link (past 30 minutes) neither shows the form nor sets a password', async () => {
    const user = await createUser();
    const link = await resetLink(user);
    const token = await tokenOf(link);
    await env.DB.prepare('UPDATE email_tokens SET expires_at = unixepoch() - 1 WHERE hash = ?')
      .bind(await storedHash(token))
      .run();
    const hash = await passwordHash(user);
    expect((await new Browser().get(link)).status).toBe(400);
    expect((await postReset(token, 'too late passphrase')).status).toBe(400);
    expect(await passwordHash(user)).toBe(hash);
  });

  it('a successful reset spends the user’s other reset links', async () => {
    const user = await createUser();
    const older = await tokenOf(await resetLink(user));
    expect((await new Browser().submit('/forgot', { email: user.email })).status).toBe(303);
    const mails = await awaitMail(user.email, 'Reset your password', 2);
    const newer = await tokenOf(mailedLink(mails[0]!, '/reset-password'));
    expect(newer).not.toBe(older);
    expect((await postReset(newer, 'the newest passphrase')).status).toBe(303);
    expect((await postReset(older, 'an older passphrase')).status).toBe(400);
    expect(await canSignIn(user, 'the newest passphrase')).toBe(true);
  });

  it('a verification link is no reset link (purpose is checked), and the stored hash is no token', async () => {
    const user = await createUser();
    const [verification] = await awaitMail(user.email, 'Confirm your email address');
    const verifyToken = await tokenOf(mailedLink(verification!, '/verify-email'));
    const hash = await passwordHash(user);
    expect((await postReset(verifyToken, 'hijacked passphrase')).status).toBe(400);
    // A database reader holds only hashes: a hash presented as a token is unknown.
    const resetToken = await tokenOf(await resetLink(user));
    expect((await postReset(await storedHash(resetToken), 'hijacked passphrase')).status).toBe(400);
    expect(await passwordHash(user)).toBe(hash);
  });
});
