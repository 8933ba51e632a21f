/**
 * Whether a URL is one the server may fetch on a stranger's word: a guard
 * against server-side request forgery (SSRF, OWASP), for client ID metadata
 * documents (draft-ietf-oauth-client-id-metadata-document §6: the server
 * fetches a URL any client names). Pure: it looks only at the URL's text.
 *
 * Workers cannot resolve DNS, so a public name that resolves to a private
 * address cannot be caught here; a Worker's fetch() leaves through
 * Cloudflare's network, which does not reach the operator's private network
 * (SECURITY.md). What can be refused from the text is: any scheme but https,
 * any port but 443, credentials in the URL, IP literals in special-use ranges,
 * and names that only mean something inside a network.
 */

/**
 * Names for hosts inside one network or machine, never on the public
 * Internet: RFC 6761 §6.3 `localhost`, §6.4 `invalid`; RFC 6762 `local`
 * (mDNS); ICANN's `internal` (2024) and the names SAC113 says are used
 * privately (`corp`, `home`, `lan`, `intranet`, `private`); RFC 8375
 * `home.arpa` with the rest of `arpa`; RFC 7686 `onion`.
 */
const PRIVATE_TLDS = new Set(['localhost', 'invalid', 'local', 'internal', 'corp', 'home', 'lan', 'intranet', 'private', 'arpa', 'onion']);

/**
 * IPv4 special-use ranges (RFC 6890 and the IANA registry): this network,
 * private (RFC 1918), shared address space for carrier-grade NAT (RFC 6598),
 * loopback, link-local (RFC 3927), IETF protocol assignments, documentation
 * (RFC 5737), benchmarking (RFC 2544), multicast and reserved, broadcast.
 */
const SPECIAL_IPV4: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** A dotted quad as a 32-bit number, or null. */
function ipv4Number(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) return null;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

function inIpv4Range(address: number, base: string, bits: number): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(address / size) === Math.floor(ipv4Number(base)! / size);
}

/** The 8 groups of an IPv6 address as the URL parser writes it (RFC 5952: `::` at most once, hex groups, no dotted quad). */
function ipv6Groups(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const side = (part: string) => (part === '' ? [] : part.split(':'));
  const head = side(halves[0]!);
  const tail = halves.length === 2 ? side(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null;
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return null;
  return groups.map((group) => Number.parseInt(group, 16));
}

/**
 * Why an IP literal must not be fetched, or null for a public unicast one.
 * IPv4 (a dotted quad) by the special-use ranges above. IPv6 by allow-list:
 * only global unicast (2000::/3, RFC 4291 §2.4) passes, less documentation
 * (2001:db8::/32, RFC 3849) and the two ranges that carry an IPv4 address
 * inside (Teredo 2001::/32, RFC 4380; 6to4 2002::/16, RFC 3056). So loopback,
 * unique-local (fc00::/7), link-local (fe80::/10), multicast, IPv4-mapped and
 * NAT64 addresses are all refused. `host` is a URL hostname: IPv6 in brackets.
 * Returns 'not an IP address' for a name.
 */
export function ipLiteralProblem(host: string): string | null | 'not an IP address' {
  const ipv4 = ipv4Number(host);
  if (ipv4 !== null) {
    if (ipv4 === 0xffffffff) return 'a broadcast address';
    const range = SPECIAL_IPV4.find(([base, bits]) => inIpv4Range(ipv4, base, bits));
    return range ? `a ${range[2]} address` : null;
  }
  const bracketed = /^\[(.*)\]$/.exec(host);
  if (!bracketed) return 'not an IP address';
  const groups = ipv6Groups(bracketed[1]!);
  if (!groups) return 'not a valid IPv6 address';
  const [first, second] = groups as [number, number];
  if (first >> 13 !== 0b001) return 'not a global unicast IPv6 address (loopback, unique-local, link-local, multicast or mapped)';
  if (first === 0x2001 && second === 0x0db8) return 'a documentation address';
  if (first === 0x2001 && second === 0) return 'a Teredo address (it carries an IPv4 address)';
  if (first === 0x2002) return 'a 6to4 address (it carries an IPv4 address)';
  return null;
}

/** Why a host name or IP literal (a URL hostname) must not be fetched, or null. */
export function hostProblem(hostname: string): string | null {
  const literal = ipLiteralProblem(hostname);
  if (literal !== 'not an IP address') return literal === null ? null : `is ${literal}`;
  const name = hostname.toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  if (labels.length < 2) return 'is a single-label name, which only means something inside a network';
  if (PRIVATE_TLDS.has(labels[labels.length - 1]!)) return 'is a name for a host inside a network, not on the public Internet';
  // The URL parser reads an all-numeric last label as IPv4, so one left here is odd enough to refuse.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return 'ends in a numeric label';
  return null;
}

/**
 * Why `url` may not be fetched on a stranger's word, or null: https only
 * (draft-ietf-oauth-client-id-metadata-document §3; nothing readable or
 * alterable on the way), on its default port (443: no probing of other
 * services on a host), with no credentials in it, to a public host.
 */
export function publicUrlProblem(url: URL): string | null {
  if (url.protocol !== 'https:') return 'must use https';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.port !== '') return 'must use the default https port (443)';
  const host = hostProblem(url.hostname);
  return host === null ? null : `host ${url.hostname.slice(0, 100)} ${host}`;
}

/**
 * Why `id` cannot be a client ID metadata document URL, or null: the draft's
 * grammar (§3: https, a path, no fragment, no userinfo, no dot segments; a
 * query is discouraged, and refused here) plus `publicUrlProblem`. The id
 * must be written exactly as the URL parser writes it, so one document has
 * one client id (the draft's §4 compares client ids as strings): that also
 * refuses dot segments, which the parser removes, and a missing path.
 */
export function clientIdUrlProblem(id: string): string | null {
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return 'is not a URL';
  }
  const unsafe = publicUrlProblem(url);
  if (unsafe) return unsafe;
  if (id.includes('#')) return 'must not contain a fragment';
  if (url.search !== '' || id.includes('?')) return 'must not contain a query';
  if (url.pathname === '/') return 'must have a path (the document, not the site)';
  if (url.href !== id) return `must be written in its normal form (${url.href.slice(0, 200)}), without dot segments`;
  return null;
}

/** Whether a client id names a client ID metadata document: an https URL (registered ids never start so). */
export function isClientIdUrl(id: string): boolean {
  return id.startsWith('https://');
}
