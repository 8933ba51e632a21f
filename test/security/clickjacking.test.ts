import { describe, expect, it } from 'vitest';
import { HTML_PAGES } from './support';

/** The directives of a Content-Security-Policy header, by name. */
function directives(csp: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name.toLowerCase(), values);
  }
  return map;
}

describe('clickjacking (RFC 9700 §4.16)', () => {
  it.each(Object.keys(HTML_PAGES))('§4.16: the %s cannot be framed: CSP frame-ancestors none and X-Frame-Options DENY', async (name) => {
    const response = await HTML_PAGES[name]!.load();
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
    const csp = directives(response.headers.get('Content-Security-Policy') ?? '');
    expect(csp.get('frame-ancestors'), 'frame-ancestors').toEqual(["'none'"]);
    // For browsers without CSP level 2 (RFC 7034).
    expect(response.headers.get('X-Frame-Options')).toBe('DENY');
  });

  it.each(Object.keys(HTML_PAGES))('§4.16: the %s allows no inline script or style, and has none', async (name) => {
    const response = await HTML_PAGES[name]!.load();
    const header = response.headers.get('Content-Security-Policy') ?? '';
    expect(header).not.toContain("'unsafe-inline'");
    expect(header).not.toContain("'unsafe-eval'");
    const csp = directives(header);
    // Nothing runs unless a directive allows it: default-src 'none', and no script source beyond this origin.
    expect(csp.get('default-src')).toEqual(["'none'"]);
    for (const source of csp.get('script-src') ?? []) expect(["'self'"]).toContain(source);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    const html = await response.text();
    // The policy is kept by the markup too: no inline script, handler or style.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/<style|\sstyle\s*=/i);
    expect(html).not.toMatch(/javascript:/i);
  });
});
