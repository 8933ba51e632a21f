import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { type BindingCounts, countingBindings, newCounts } from '../../bench/counting-bindings';
import { app } from '../../src/app';
import { awaitMail, Browser, createUser, ISSUER, mailTo, unique } from '../helpers';

// OWASP Forgot Password Cheat Sheet, "Consistent messages" and "consistent
// response time": /forgot must not tell whether an address has an account,
// by its page, status, headers or timing. Timing is asserted as work: the
// request does the same storage calls for both, and the only difference (the
// link and its mail) happens after the response (waitUntil).

const CSRF = 'c'.repeat(43);

/** POST /forgot through the app with counted bindings: the answer, and all the storage work it did (waitUntil's included). */
async function forgot(email: string): Promise<{ response: Response; body: string; after: BindingCounts }> {
  const counts = newCounts({ keepSql: true });
  const ctx = createExecutionContext();
  const request = new Request(`${ISSUER}/forgot`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `tg_csrf=${CSRF}` },
    body: new URLSearchParams({ email, csrf_token: CSRF }).toString(),
  });
  const response = await app.fetch(request, countingBindings(env, counts), ctx);
  const body = await response.text();
  await waitOnExecutionContext(ctx);
  return { response, body, after: counts };
}

function headersOf(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of response.headers) if (name !== 'date') headers[name] = value;
  return headers;
}

describe('account enumeration through /forgot', () => {
  it('answers an address with an account and one without alike: status, Location, headers and body', async () => {
    const user = await createUser();
    const known = await forgot(user.email);
    const unknown = await forgot(`${unique('nobody')}@example.com`);
    expect(known.response.status).toBe(303);
    expect(unknown.response.status).toBe(303);
    expect(headersOf(known.response)).toEqual(headersOf(unknown.response));
    expect(known.body).toBe(unknown.body);
  });

  it('does the same storage work for both; only the account gets its link and mail, after the response (waitUntil)', async () => {
    const user = await createUser();
    const known = await forgot(user.email);
    const unknown = await forgot(`${unique('nobody')}@example.com`);
    // The same statements (the rate limits touch no storage; the link is one
    // INSERT ... SELECT from users either way), and the same KV calls (none);
    // for the account, one more round trip: the kept mail (a mail sent, in production).
    expect(known.after.sql!.slice(0, -1)).toEqual(unknown.after.sql);
    expect(known.after.sql!.at(-1)).toBe('batch(2)');
    expect(unknown.after.d1).toBe(1);
    expect(known.after.d1).toBe(2);
    expect([known.after.kvGet, known.after.kvPut]).toEqual([unknown.after.kvGet, unknown.after.kvPut]);
    expect((await mailTo(user.email)).filter((mail) => mail.subject === 'Reset your password')).toHaveLength(1);
  });

  it('limits alike: 429 after 3 requests a minute for any address, with or without an account', async () => {
    const user = await createUser();
    const nobody = `${unique('nobody')}@example.com`;
    for (const email of [user.email, nobody]) {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await new Browser().submit('/forgot', { email })).status);
      expect(statuses, email).toEqual([303, 303, 303, 429]);
    }
  });

  it('mails nothing for a disabled account, and answers the same', async () => {
    const user = await createUser();
    await env.DB.prepare('UPDATE users SET disabled_at = 1 WHERE id = ?').bind(user.id).run();
    const answer = await forgot(user.email);
    expect(answer.response.status).toBe(303);
    expect(answer.after.d1).toBe(1);
    expect((await mailTo(user.email)).filter((mail) => mail.subject === 'Reset your password')).toHaveLength(0);
  });
});

describe('account enumeration through /signup', () => {
  // Sign-up signs a new account in at once (SPEC: the account is usable and
  // its email_verified claim false until the link is followed), so a taken
  // address cannot be answered like a new one: SECURITY.md says so. What the
  // page does: one generic sentence, nothing from the account, the owner told
  // by mail (so probing is visible to them), and the per-network sign-up
  // limit (SIGNUP_IP_LIMITER) as for any sign-up.
  it('a taken address: 409 with one sentence that does not depend on the account or the password, and the owner is mailed', async () => {
    const user = await createUser({ name: 'Secret Name' });
    const first = await new Browser().submit('/signup', { name: 'Probe', email: user.email, password: 'long enough pw' });
    const second = await new Browser().submit('/signup', { name: 'Probe', email: user.email, password: user.password });
    expect(first.status).toBe(409);
    expect(second.status).toBe(409);
    const [one, two] = [await first.text(), await second.text()];
    expect(one).toContain('An account with this email already exists.');
    expect(one).not.toContain('Secret Name');
    const strip = (html: string) => html.replace(/name="csrf_token" value="[^"]*"/, '');
    expect(strip(one)).toBe(strip(two));
    await awaitMail(user.email, 'You already have a Tollgate account');
  });
});
