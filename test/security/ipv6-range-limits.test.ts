import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { createUser, ISSUER, json, unique } from '../helpers';

// Issue 11, finding 7: 33 failed sign-ins from 33 addresses of one IPv6 /64
// were never limited. A /64 is what one subscriber gets (RFC 6177 §2,
// RFC 7421 §1), so every per-IP limit counts an IPv6 client by its /64, and an
// IPv4 client by its address, in whichever textual form the address arrives.

/** How many tries it takes to see a limit of `limit` refuse, even if a fixed rate-limit window ends mid-run and resets the count once. */
const withinTwoWindows = (limit: number) => 2 * limit + 2;

const hextet = () => Math.floor(Math.random() * 0x10000);
const hex = (n: number) => n.toString(16);

/** A fresh /64 of the documentation range (RFC 3849). */
function freshPrefix(): [number, number, number, number] {
  return [0x2001, 0xdb8, hextet(), hextet()];
}

/** An address of the /64 with a random interface id, written in one of the textual forms RFC 4291 §2.2 allows. */
function addressIn(prefix: number[], form: number): string {
  const groups = [...prefix, hextet(), hextet(), hextet(), hextet() | 1];
  switch (form % 4) {
    case 0:
      return groups.map(hex).join(':');
    case 1:
      return groups.map((g) => hex(g).padStart(4, '0')).join(':');
    case 2:
      return groups.map(hex).join(':').toUpperCase();
    default:
      return `${prefix.map(hex).join(':')}:0:0:0:${hex(groups[7]!)}`.replace(/(^|:)0(:0)+:/, '::');
  }
}

async function expectTooMany(response: Response): Promise<void> {
  expect(response.status, await response.clone().text()).toBe(429);
  expect(response.headers.get('Retry-After')).toBe('60');
}

describe('failed sign-ins from one IPv6 /64 (SIGN_IN_IP_LIMITER: 30 a minute per network)', () => {
  it('are limited when each comes from another address of the /64, and only that /64 is', async () => {
    const prefix = freshPrefix();
    let refusedAfter = 0;
    for (let i = 1; i <= withinTwoWindows(30) && !refusedAfter; i++) {
      const address = addressIn(prefix, i);
      const response = await json(
        '/api/login',
        { email: `${unique('spray')}@example.com`, password: 'password1' },
        { headers: { 'CF-Connecting-IP': address } },
      );
      if (response.status === 429) refusedAfter = i;
      else expect(response.status, address).toBe(401);
    }
    expect(refusedAfter, 'the /64 was never limited').toBeGreaterThan(0);
    // Any address of that /64 is paused now, even with the right password.
    const user = await createUser();
    await expectTooMany(
      await json('/api/login', { email: user.email, password: user.password }, { headers: { 'CF-Connecting-IP': addressIn(prefix, 1) } }),
    );
    // Another /64 is not.
    const elsewhere = addressIn(freshPrefix(), 0);
    expect(
      (await json('/api/login', { email: user.email, password: user.password }, { headers: { 'CF-Connecting-IP': elsewhere } })).status,
    ).toBe(200);
  });
});

describe('sign-ups per network (SIGNUP_IP_LIMITER; 2 a minute in this test)', () => {
  const tightEnv = { ...env, SIGNUP_IP_LIMITER: env.TIGHT_LIMITER };
  const signup = (address: string) =>
    app.request(
      `${ISSUER}/api/users`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': address },
        body: JSON.stringify({ email: `${unique('v6')}@example.com`, password: 'long enough pw', name: 'Range' }),
      },
      tightEnv,
    );

  it('counts every address of a /64 as one network', async () => {
    const prefix = freshPrefix();
    expect((await signup(addressIn(prefix, 0))).status).toBe(201);
    expect((await signup(addressIn(prefix, 1))).status).toBe(201);
    await expectTooMany(await signup(addressIn(prefix, 2)));
    expect((await signup(addressIn(freshPrefix(), 3))).status).toBe(201);
  });

  it('counts an IPv4 address and its IPv4-mapped IPv6 forms as one network', async () => {
    const [a, b] = [1 + Math.floor(Math.random() * 250), 1 + Math.floor(Math.random() * 250)];
    const dotted = `198.18.${a}.${b}`;
    const mappedHex = `::FFFF:c612:${hex(a).padStart(2, '0')}${hex(b).padStart(2, '0')}`;
    expect((await signup(dotted)).status).toBe(201);
    expect((await signup(`::ffff:${dotted}`)).status).toBe(201);
    await expectTooMany(await signup(mappedHex));
    // The neighbouring IPv4 address is another network.
    expect((await signup(`198.18.${a}.${b === 250 ? 1 : b + 1}`)).status).toBe(201);
  });
});
