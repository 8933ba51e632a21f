import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/index';
import { authorizeUrl, bearer, createUser, expectErrorPage, ISSUER, pkce, unique, userToken } from '../helpers';

// Open registration lets anyone write a clients row, and a client ID metadata
// document URL makes Tollgate fetch and store one. Both are counted per
// client network (an IPv4 address or an IPv6 /64) by OPEN_REGISTRATION_LIMITER
// (10 a minute in wrangler.toml); past it, 429 with Retry-After and nothing
// stored. TIGHT_LIMITER (2 a minute) stands in for it here.

const tightEnv = { ...env, OPEN_REGISTRATION_LIMITER: env.TIGHT_LIMITER };

function network(): { at(host: number): string } {
  const hextet = () => Math.floor(Math.random() * 0x10000).toString(16);
  const prefix = `2001:db8:${hextet()}:${hextet()}`;
  return { at: (host) => `${prefix}::${host.toString(16)}` };
}

function register(address: string, headers: Record<string, string> = {}, body?: string) {
  return app.request(
    `${ISSUER}/oauth2/register`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': address, ...headers },
      body:
        body ??
        JSON.stringify({ client_name: unique('Flood'), redirect_uris: ['https://flood.example/cb'], token_endpoint_auth_method: 'none' }),
    },
    tightEnv,
  );
}

async function anonymousClients(): Promise<number> {
  return (await env.DB.prepare('select count(*) as n from clients where owner_id is null').first<{ n: number }>())!.n;
}

describe('registration flooding', () => {
  it('answers 429 with Retry-After past the limit, per network, storing nothing more', async () => {
    const flood = network();
    expect((await register(flood.at(1))).status).toBe(201);
    // Another address of the same /64 is the same network.
    expect((await register(flood.at(2))).status).toBe(201);
    const before = await anonymousClients();
    const third = await register(flood.at(3));
    expect(third.status).toBe(429);
    expect(third.headers.get('Retry-After')).toBe('60');
    expect(await third.json()).toMatchObject({ error: 'too_many_requests' });
    // Even a malformed body is counted, before it is read.
    expect((await register(flood.at(4), {}, '{"redirect_uris": [')).status).toBe(429);
    expect(await anonymousClients()).toBe(before);
    // Another network is not held back by the flood.
    expect((await register(network().at(1))).status).toBe(201);
  });

  it('does not count a user registering with a user API token', async () => {
    const token = await userToken(await createUser());
    const flood = network();
    for (let i = 0; i < 4; i++) expect((await register(flood.at(1), bearer(token))).status).toBe(201);
  });

  it('counts client ID metadata document fetches from one network: past the limit, a 429 page and no fetch', async () => {
    const address = network().at(1);
    const authorize = async (id: string) => {
      const { challenge } = await pkce();
      return app.request(
        `${ISSUER}${authorizeUrl({
          response_type: 'code',
          client_id: id,
          redirect_uri: 'https://app.client.example/callback',
          scope: 'books:read',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        })}`,
        { headers: { 'CF-Connecting-IP': address } },
        tightEnv,
      );
    };
    const ids = [1, 2, 3].map(() => `https://client.example/good/${unique('flood')}`);
    // Signed out: each goes to sign in, after the document was fetched and stored.
    expect((await authorize(ids[0]!)).status).toBe(302);
    expect((await authorize(ids[1]!)).status).toBe(302);
    // A stored, fresh document needs no fetch, so it is not counted.
    expect((await authorize(ids[0]!)).status).toBe(302);
    const html = await expectErrorPage(await authorize(ids[2]!), 429);
    expect(html).toContain('Try again in a minute');
    const log = (await (await fetch('https://client.example/__log')).json()) as string[];
    expect(log).not.toContain(ids[2]);
    expect(await env.DB.prepare('select id from clients where id = ?').bind(ids[2]).first()).toBeNull();
  });
});
