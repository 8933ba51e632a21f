import { describe, expect, it } from 'vitest';
import { Browser, createUser, json, signedInBrowser } from '../helpers';
import { enterCode, enterPassword, turnOnTwoFactor } from '../totp-support';

// RFC 4226 §7.3 (throttling) and RFC 6238 §5.2: six digits are a million
// codes, three of them right at any time, so guessing must be slowed. Wrong
// codes count per account (TWO_FACTOR_LIMITER, 5 a minute) like failed
// passwords; past the limit codes are not even checked for a minute (429).

/** Enough tries to pass a limit of 5 even if a fixed window ends once mid-run. */
const TRIES = 2 * 5 + 2;

/** Six-digit guesses that are not the account's code now (the app's own codes are skipped). */
function wrongCode(i: number, right: Set<string>): string {
  let guess = i;
  while (right.has(String(guess).padStart(6, '0'))) guess += 1;
  return String(guess).padStart(6, '0');
}

describe('TOTP brute force', () => {
  it('wrong codes at the sign-in page end in 429 with Retry-After, and then even the right code is not checked', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const right = new Set([-1, 0, 1, 2].map((offset) => app.codeAt(app.lastStep + offset)));
    const attacker = new Browser();
    await enterPassword(attacker, user);
    let refused: Response | null = null;
    for (let i = 0; i < TRIES && !refused; i++) {
      const response = await enterCode(attacker, wrongCode(i, right));
      if (response.status === 429) refused = response;
      else expect(response.status).toBe(401);
    }
    expect(refused, 'the code limit never refused the guesser').not.toBeNull();
    expect(refused!.headers.get('Retry-After')).toBe('60');
    expect(await refused!.text()).toContain('Too many wrong codes');

    // The lock is per account: the right code, from any browser, waits too.
    const owner = new Browser();
    await enterPassword(owner, user);
    expect((await enterCode(owner, await app.nextCode())).status).toBe(429);
    expect((await owner.get('/account')).status).toBe(302);
  });

  it('/api/login (code in the body) is held by the same limit', async () => {
    const user = await createUser();
    const { app } = await turnOnTwoFactor(await signedInBrowser(user));
    const right = new Set([-1, 0, 1, 2].map((offset) => app.codeAt(app.lastStep + offset)));
    let status = 0;
    for (let i = 0; i < TRIES && status !== 429; i++) {
      const response = await json('/api/login', { email: user.email, password: user.password, code: wrongCode(i, right) });
      status = response.status;
      if (status !== 429) expect(status).toBe(401);
      else expect(response.headers.get('Retry-After')).toBe('60');
    }
    expect(status).toBe(429);
  });

  it('wrong codes when turning two-factor off are counted too', async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user);
    const { app } = await turnOnTwoFactor(browser);
    const right = new Set([-1, 0, 1, 2].map((offset) => app.codeAt(app.lastStep + offset)));
    const page = await (await browser.get('/account')).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)![1]!;
    let status = 0;
    for (let i = 0; i < TRIES && status !== 429; i++) {
      status = (await browser.post('/account/two-factor/disable', { csrf_token: csrf, code: wrongCode(i, right) })).status;
      if (status !== 429) expect(status).toBe(400);
    }
    expect(status).toBe(429);
  });
});
