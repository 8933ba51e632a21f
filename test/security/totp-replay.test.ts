import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Browser, createUser, json, signedInBrowser } from '../helpers';
import { enterCode, enterPassword, stepNow, turnOnTwoFactor } from '../totp-support';

// RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the OTP
// after the successful validation has been issued for the first OTP". A code
// seen over a shoulder, phished or logged is worth nothing once used: each
// accepted time step is recorded and only a later one is accepted.
describe('TOTP code replay', () => {
  it('a code that completed a sign-in completes no other, in another browser or at /api/login', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const victim = new Browser();
    await enterPassword(victim, user);
    const code = await app.nextCode();
    expect((await enterCode(victim, code)).status).toBe(303);

    // The attacker knows the password and saw the code.
    const attacker = new Browser();
    await enterPassword(attacker, user);
    expect((await enterCode(attacker, code)).status).toBe(401);
    expect((await attacker.get('/account')).status).toBe(302);
    expect((await json('/api/login', { email: user.email, password: user.password, code })).status).toBe(401);
  });

  it('a code for an earlier step than the last one used is refused, even within the drift window', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    // Use the newest code the server accepts (now + 1), then try an older one still within drift.
    const newest = stepNow() + 1;
    app.lastStep = newest;
    const browser = new Browser();
    await enterPassword(browser, user);
    expect((await enterCode(browser, app.codeAt(newest))).status).toBe(303);
    const other = new Browser();
    await enterPassword(other, user);
    expect((await enterCode(other, app.codeAt(stepNow()))).status).toBe(401);
    const row = await env.DB.prepare('select last_used_step from totp_credentials where user_id = ?').bind(user.id).first();
    expect(row).toEqual({ last_used_step: newest });
  });

  it('a recovery code works once', async () => {
    const user = await createUser();
    const { recoveryCodes } = await turnOnTwoFactor(await signedInBrowser(user));
    const first = new Browser();
    await enterPassword(first, user);
    expect((await enterCode(first, recoveryCodes[0]!)).status).toBe(303);
    const second = new Browser();
    await enterPassword(second, user);
    expect((await enterCode(second, recoveryCodes[0]!)).status).toBe(401);
    expect((await second.get('/account')).status).toBe(302);
  });
});
