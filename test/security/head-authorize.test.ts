import { describe, expect, it } from 'vitest';
import { authorizeWithConsent, Browser } from '../helpers';
import { authorizationRequest, authRequestsInKv, codeCount, victim } from './support';

/**
 * Issue 11: Hono answers HEAD with the GET handler, so a HEAD of an
 * authorization URL with remembered consent issued a code (and wrote its D1
 * row) that nobody could see: link checkers and prefetchers send HEAD. A HEAD
 * must not change anything (RFC 9110 §9.2.1: HEAD is safe), and the endpoint
 * only acts on GET, so it answers 405 with `Allow` (RFC 9110 §15.5.6).
 */

describe('HEAD /oauth2/authorize', () => {
  it('issues no code with a remembered grant: 405, Allow: GET, POST, no Location, no new codes row', async () => {
    const { browser, client } = await victim();
    await authorizeWithConsent(browser, client, { scope: 'books:read' });
    const codesBefore = await codeCount(client.client_id);
    const { url } = await authorizationRequest(client, { prompt: undefined });
    const response = await browser.fetch(url, { method: 'HEAD' });
    expect(response.status).toBe(405);
    expect(response.headers.get('Allow')).toBe('GET, POST');
    expect(response.headers.get('Location')).toBeNull();
    expect(await codeCount(client.client_id)).toBe(codesBefore);

    // The same URL by GET still works: remembered consent, a code.
    const get = await browser.get(url);
    expect(get.status).toBe(302);
    expect(new URL(get.headers.get('Location')!).searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('keeps nothing for a signed-out HEAD or one that would show the consent page: no KV entry, no cookie', async () => {
    const { browser, client } = await victim();
    const before = await authRequestsInKv();
    for (const asker of [new Browser(), browser]) {
      const { url } = await authorizationRequest(client);
      const response = await asker.fetch(url, { method: 'HEAD' });
      expect(response.status).toBe(405);
      expect(response.headers.getSetCookie().filter((cookie) => cookie.includes('authreq'))).toEqual([]);
    }
    expect(await authRequestsInKv()).toBe(before);
  });
});
