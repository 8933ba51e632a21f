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
  });
});
