import { describe, expect, it } from 'vitest';
import { clientIdUrlProblem, hostProblem, ipLiteralProblem, isClientIdUrl, publicUrlProblem } from '../src/lib/public-urls';

// src/lib/public-urls.ts: what the server may fetch on a stranger's word
// (client ID metadata documents), decided from the URL's text alone.

describe('ipLiteralProblem', () => {
  it.each([
    ['0.0.0.0', 'this network'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['192.0.2.10', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('refuses IPv4 %s (%s)', (address, why) => {
    expect(ipLiteralProblem(address)).toContain(why);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '11.0.0.1', '192.169.0.1'])('accepts public IPv4 %s', (address) => {
    expect(ipLiteralProblem(address)).toBeNull();
  });

  it.each([
    '[::1]',
    '[::]',
    '[fc00::1]',
    '[fd12:3456::1]',
    '[fe80::1]',
    '[ff02::1]',
    '[::ffff:7f00:1]',
    '[64:ff9b::a00:1]',
    '[2001:db8::1]',
    '[2001::1]',
    '[2002:a00:1::1]',
  ])('refuses special-use IPv6 %s', (address) => {
    expect(ipLiteralProblem(address)).not.toBeNull();
    expect(ipLiteralProblem(address)).not.toBe('not an IP address');
  });

  it('accepts global unicast IPv6', () => {
    expect(ipLiteralProblem('[2606:4700:4700::1111]')).toBeNull();
    expect(ipLiteralProblem('[2a00:1450:4001:80b::200e]')).toBeNull();
  });

  it('says a name is not an IP address', () => {
    expect(ipLiteralProblem('example.com')).toBe('not an IP address');
  });
});

describe('hostProblem', () => {
  it.each([
    'localhost',
    'app.localhost',
    'printer.local',
    'db.internal',
    'router.home.arpa',
    'intranet',
    'files.corp',
    'nas.lan',
    'LOCALHOST.',
    'x.onion',
  ])('refuses names inside a network: %s', (host) => {
    expect(hostProblem(host)).not.toBeNull();
  });

  it.each(['client.example', 'app.example.com', 'xn--bcher-kva.example'])('accepts public names: %s', (host) => {
    expect(hostProblem(host)).toBeNull();
  });
});

describe('publicUrlProblem (as the URL parser reads the text)', () => {
  it.each([
    ['http://client.example/doc', 'https'],
    ['https://user:pw@client.example/doc', 'credentials'],
    ['https://client.example:8443/doc', '443'],
    ['https://127.0.0.1/doc', 'loopback'],
    ['https://0x7f.1/doc', 'loopback'],
    ['https://2130706433/doc', 'loopback'],
    ['https://[::1]/doc', 'not a global unicast'],
    ['https://169.254.169.254/latest/meta-data', 'link-local'],
    ['https://10.0.0.1/doc', 'private'],
    ['https://localhost/doc', 'inside a network'],
  ])('refuses %s', (text, why) => {
    expect(publicUrlProblem(new URL(text))).toContain(why);
  });

  it('accepts a public https URL on the default port, written :443 or not', () => {
    expect(publicUrlProblem(new URL('https://client.example/doc'))).toBeNull();
    expect(publicUrlProblem(new URL('https://client.example:443/doc'))).toBeNull();
  });
});

describe('clientIdUrlProblem (the draft §3 grammar)', () => {
  it('accepts an https URL with a path', () => {
    expect(clientIdUrlProblem('https://client.example/oauth/client.json')).toBeNull();
  });

  it.each([
    ['https://client.example', 'path'],
    ['https://client.example/', 'path'],
    ['https://client.example/doc#x', 'fragment'],
    ['https://client.example/doc?v=1', 'query'],
    ['https://client.example/a/../doc', 'normal form'],
    ['https://client.example/a/./doc', 'normal form'],
    ['https://client.example/a/%2e%2e/doc', 'normal form'],
    ['https://CLIENT.example/doc', 'normal form'],
    ['https://client.example:443/doc', 'normal form'],
    ['not a url', 'not a URL'],
  ])('refuses %s', (id, why) => {
    expect(clientIdUrlProblem(id)).toContain(why);
  });

  it('only ids starting https:// are document URLs; registered ids never do', () => {
    expect(isClientIdUrl('https://client.example/doc')).toBe(true);
    expect(isClientIdUrl('Xy3_random-id-22-chars')).toBe(false);
    expect(isClientIdUrl('http://client.example/doc')).toBe(false);
  });
});
