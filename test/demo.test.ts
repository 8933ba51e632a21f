import { describe, expect, it } from 'vitest';
import { call, ISSUER } from './helpers';

describe('GET /demo (the single-page app)', () => {
  it('serves a shell with its client settings and only a same-origin module script', async () => {
    const response = await call('/demo');
    expect(response.status).toBe(200);
    const csp = response.headers.get('Content-Security-Policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).toContain(`data-issuer="${ISSUER}"`);
    expect(html).toContain('data-client-id="demo-spa"');
    expect(html).toContain(`data-redirect-uri="${ISSUER}/demo"`);
    expect(html).toContain('<script type="module" src="/demo/app.js"></script>');
    // No inline script anywhere on the page.
    expect(html.match(/<script[^>]*>[^<]+<\/script>/)).toBeNull();
  });

  it('serves the app module as a static asset', async () => {
    const response = await call('/demo/app.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/javascript/);
    const source = await response.text();
    expect(source).toContain("code_challenge_method: 'S256'");
    expect(source).not.toContain('localStorage.setItem');
    // RFC 9449: the app imports its DPoP module and binds the code to the key (§10).
    expect(source).toContain("import { openDPoP } from './dpop.js';");
    expect(source).toContain('dpop_jkt: dpop.thumbprint');
  });

  it('serves the DPoP module as a static asset, with the security headers', async () => {
    const response = await call('/demo/dpop.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/javascript/);
    expect(response.headers.get('Content-Security-Policy')).toContain("default-src 'none'");
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    const source = await response.text();
    // A non-extractable ES256 key pair, kept in IndexedDB (not exportable, not in localStorage).
    expect(source).toContain("crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])");
    expect(source).toContain('indexedDB.open(');
    expect(source).not.toContain('localStorage');
    // Proofs with every claim RFC 9449 §4.2 names, and the nonce retry (§8, §9).
    for (const claim of ["typ: 'dpop+jwt'", 'htm:', 'htu:', 'iat:', 'jti:', 'ath:', 'nonce']) expect(source).toContain(claim);
    expect(source).toContain('use_dpop_nonce');
    expect(source).toContain("response.headers.get('DPoP-Nonce')");
  });

  it("serves only the SPA's own modules from /demo", async () => {
    expect((await call('/demo/other.js')).status).toBe(404);
  });
});
