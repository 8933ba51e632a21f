import { describe, expect, it } from 'vitest';
import { networkKey } from '../src/lib/network';

describe('networkKey: what every per-IP limit counts', () => {
  it('keys an IPv4 address by itself', () => {
    expect(networkKey('203.0.113.9')).toBe('203.0.113.9');
    expect(networkKey(' 203.0.113.9 ')).toBe('203.0.113.9');
    expect(networkKey('203.000.113.009')).toBe('203.0.113.9');
    expect(networkKey('0.0.0.0')).toBe('0.0.0.0');
    expect(networkKey('255.255.255.255')).toBe('255.255.255.255');
    expect(networkKey('203.0.113.10')).not.toBe(networkKey('203.0.113.9'));
  });

  it('keys an IPv4-mapped IPv6 address as the IPv4 address (RFC 4291 §2.5.5.2)', () => {
    for (const form of [
      '::ffff:203.0.113.9',
      '::FFFF:203.0.113.9',
      '::ffff:cb00:7109',
      '0:0:0:0:0:ffff:cb00:7109',
      '0000:0000:0000:0000:0000:FFFF:CB00:7109',
      '[::ffff:203.0.113.9]',
    ]) {
      expect(networkKey(form), form).toBe('203.0.113.9');
    }
  });

  it('keys an IPv6 address by its /64, whatever its textual form (RFC 4291 §2.2, RFC 5952)', () => {
    const forms = [
      '2001:db8:1:2:3:4:5:6',
      '2001:DB8:1:2:3:4:5:6',
      '2001:0db8:0001:0002:0003:0004:0005:0006',
      '2001:db8:1:2::',
      '2001:db8:1:2::1',
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:db8:1:2::203.0.113.9',
      '2001:db8:1:2::1%eth0',
      '[2001:db8:1:2::1]',
      '  2001:db8:1:2::1  ',
    ];
    for (const form of forms) expect(networkKey(form), form).toBe('2001:db8:1:2::/64');
    expect(networkKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
  });

  it('writes the /64 in RFC 5952 form: `::` for the first longest run of zero groups', () => {
    expect(networkKey('2001:db8::1')).toBe('2001:db8::/64');
    expect(networkKey('2001:0:0:1::1')).toBe('2001:0:0:1::/64');
    expect(networkKey('2001:db8:0:1::')).toBe('2001:db8:0:1::/64');
    expect(networkKey('1:2:3:4:5:6:7::')).toBe('1:2:3:4::/64');
    expect(networkKey('::1')).toBe('::/64');
    expect(networkKey('::')).toBe('::/64');
    expect(networkKey('fe80::1')).toBe('fe80::/64');
    expect(networkKey('64:ff9b::203.0.113.9')).toBe('64:ff9b::/64');
    // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1) is an IPv6 address, not a mapped one.
    expect(networkKey('::203.0.113.9')).toBe('::/64');
  });

  it('keys anything that is not an address as itself, so it is still counted', () => {
    const junk = [
      '',
      'banana',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.-4',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::',
      ':1:2::',
      '1:2::3:',
      'g::1',
      '1.2.3.4::',
      '::1.2.3.4:5',
    ];
    for (const value of junk) expect(networkKey(value), value).toBe(`unparsed:${value.toLowerCase()}`);
    expect(networkKey('x'.repeat(500))).toHaveLength('unparsed:'.length + 64);
  });
});
