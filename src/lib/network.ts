/**
 * The network a client address belongs to, as every per-IP limit counts it:
 * an IPv4 client by its address, an IPv6 client by its /64. One subscriber
 * is handed a whole /64 (RFC 6177 §2, RFC 7421 §1) and may use any of its
 * 2^64 addresses, so a limit keyed on the full IPv6 address limits nothing.
 */

/** A network key, made only by `networkKey`: per-network limits accept nothing else. */
export type NetworkKey = string & { readonly __brand: 'NetworkKey' };

/** What a header value that is no IP address is keyed as (still limited, as itself), at most this long. */
const UNPARSED_MAX_LENGTH = 64;

/**
 * The network key of an address in any textual form (RFC 4291 §2.2: `::`,
 * zero-padded or upper-case hextets, a trailing dotted quad; a zone id or
 * brackets around it): `a.b.c.d` for IPv4, including an IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), and the /64 prefix in
 * RFC 5952 form (`2001:db8:1:2::/64`) for IPv6. Anything else is keyed as
 * itself, so it is still counted rather than let through.
 */
export function networkKey(address: string): NetworkKey {
  const text = address.trim().toLowerCase();
  const ipv4 = parseIpv4(text);
  if (ipv4) return ipv4.join('.') as NetworkKey;
  const ipv6 = parseIpv6(text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, ''));
  if (!ipv6) return `unparsed:${text.slice(0, UNPARSED_MAX_LENGTH)}` as NetworkKey;
  if (isIpv4Mapped(ipv6)) return [ipv6[6]! >> 8, ipv6[6]! & 0xff, ipv6[7]! >> 8, ipv6[7]! & 0xff].join('.') as NetworkKey;
  return `${formatIpv6([...ipv6.slice(0, 4), 0, 0, 0, 0])}/64` as NetworkKey;
}

/** Four decimal octets (leading zeros read as decimal), or null. */
function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** Eight 16-bit groups, or null (RFC 4291 §2.2). */
function parseIpv6(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  // Only the last group may be written as a dotted quad.
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  // `::` stands for at least one group of zeros.
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : null;
}

/** The groups of one side of `::`; a dotted quad may end the address and counts as two groups. */
function groupsOf(side: string, endsAddress: boolean): number[] | null {
  if (side === '') return [];
  const parts = side.split(':');
  const last = parts[parts.length - 1]!;
  const groups: number[] = [];
  for (const part of parts.slice(0, -1)) {
    if (!/^[0-9a-f]{1,4}$/.test(part)) return null;
    groups.push(Number.parseInt(part, 16));
  }
  const ipv4 = endsAddress && last.includes('.') ? parseIpv4(last) : null;
  if (ipv4) return [...groups, (ipv4[0]! << 8) | ipv4[1]!, (ipv4[2]! << 8) | ipv4[3]!];
  if (!/^[0-9a-f]{1,4}$/.test(last)) return null;
  return [...groups, Number.parseInt(last, 16)];
}

/** `::ffff:0:0/96`: an IPv4 client seen through an IPv6 socket. */
function isIpv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
}

/** RFC 5952 §4: lower case, no leading zeros, `::` for the first longest run of two or more zero groups. */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < groups.length; start++) {
    let length = 0;
    while (groups[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
