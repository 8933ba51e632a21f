import { describe, expect, it } from 'vitest';
import { basic, createUser, expectJsonError, form, registerClient, userToken } from '../helpers';

// Issue 11: the client-authentication limit only changed the error after 20
// failures (counted per client_id, from anywhere) and still accepted the right
// secret. What it is now, as SECURITY.md says: failures are counted per
// client and client network (IPv4 address or IPv6 /64); past 20 in a minute,
// that network's failures for that client are answered 429 instead of 401.
// The secret is still checked on every request and the right one is accepted
// from any network: client secrets are 256 bits (guessing is hopeless), so the
// limit is a brake on a misbehaving caller, and must never lock out the client.

const withinTwoWindows = (limit: number) => 2 * limit + 2;

function network(): { at(host: number): string } {
  const hextet = () => Math.floor(Math.random() * 0x10000).toString(16);
  const prefix = `2001:db8:${hextet()}:${hextet()}`;
  return { at: (host) => `${prefix}::${host.toString(16)}` };
}

describe('failed client authentications (CLIENT_AUTH_LIMITER: 20 a minute per client and network)', () => {
  it('answers 429 only to the failing network, and the right secret works from every network', async () => {
    const owner = await createUser();
    const client = await registerClient(await userToken(owner), {
      grant_types: ['client_credentials'],
      redirect_uris: [],
      scope: 'books:read',
    });
    const attempt = (secret: string, address: string) =>
      form(
        '/oauth2/token',
        { grant_type: 'client_credentials' },
        { Authorization: basic(client.client_id, secret), 'CF-Connecting-IP': address },
      );
    const noisy = network();
    const quiet = network();

    let limited: Response | undefined;
    for (let i = 0; i < withinTwoWindows(20) && !limited; i++) {
      // Every try from another address of the same /64: still one network.
      const response = await attempt(`wrong-${i}`, noisy.at(i + 1));
      if (response.status === 429) limited = response;
      else await expectJsonError(response, 401, 'invalid_client');
    }
    expect(limited, 'the failing network was never limited').toBeDefined();
    expect(limited!.headers.get('Retry-After')).toBe('60');
    await expectJsonError(limited!, 429, 'too_many_requests');

    // Someone else's noise changes nothing for another network: a wrong secret there is an ordinary 401.
    await expectJsonError(await attempt('wrong-elsewhere', quiet.at(1)), 401, 'invalid_client');
    // The right secret is checked and accepted everywhere, the noisy network included.
    expect((await attempt(client.client_secret!, quiet.at(2))).status).toBe(200);
    expect((await attempt(client.client_secret!, noisy.at(999))).status).toBe(200);
  });
});
