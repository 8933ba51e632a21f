import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { app } from '../src/app';
import { ISSUER, unique } from './helpers';

describe('an unexpected error', () => {
  afterEach(() => vi.restoreAllMocks());

  it('is a bare 500 on the wire, and the log holds no request data', async () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    // A D1 whose statements always fail: the sign-up's insert errors out inside Drizzle.
    const broken = {
      ...env,
      DB: {
        prepare: () => ({
          bind: () => ({
            run: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            all: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            raw: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
            first: () => Promise.reject(new Error('D1_ERROR: disk I/O error')),
          }),
        }),
      } as unknown as D1Database,
    };
    const email = `${unique('private')}@example.com`;
    const response = await app.request(
      `${ISSUER}/api/users`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'long enough pw', name: 'Private Name' }),
      },
      broken,
    );
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: 'server_error', error_description: 'internal server error' });
    expect(body).not.toMatch(/D1_ERROR|insert|at /);
    expect(logged.join('\n')).toContain('disk I/O error');
    expect(logged.join('\n')).not.toContain(email);
    expect(logged.join('\n')).not.toContain('Private Name');
  });
});
