import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { DPOP_PROOF_MAX_AGE, DPOP_SIGNING_ALGS } from '../src/config';
import { createDeps } from '../src/deps';
import { DpopProofError, hasPrivateMembers, normalizedHtu, singleProof } from '../src/lib/dpop';
import { verifyDpopProof } from '../src/services/dpop';
import { pruneExpiredRows } from '../src/services/retention';
import { type DpopKey, dpopCall, dpopKey, dpopTokenRequest, proof, serverNonce } from './dpop-support';
import {
  authorizeWithConsent,
  type Browser,
  bearer,
  call,
  codeFields,
  createUser,
  decodeJwt,
  expectJsonError,
  formAction,
  hiddenFields,
  ISSUER,
  introspectAs,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  storedHash,
  userToken,
} from './helpers';

const deps = createDeps(env);
const TOKEN_URI = `${ISSUER}/oauth2/token`;

/** Checks a proof against a token request at this server, with or without a nonce. */
function check(jws: string, expected: Partial<Parameters<typeof verifyDpopProof>[2]> = {}) {
  return verifyDpopProof(deps, jws, { method: 'POST', uri: TOKEN_URI, requireNonce: false, ...expected });
}

async function refusal(promise: Promise<unknown>): Promise<DpopProofError> {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(DpopProofError);
  return error as DpopProofError;
}

/** A token response whose access token is DPoP-bound to `key` (RFC 9449 §5, §6.1: token_type DPoP, cnf.jkt the key's thumbprint). */
function expectBoundTo(body: { token_type: string; access_token: string }, key: DpopKey): void {
  expect(body.token_type).toBe('DPoP');
  expect(decodeJwt(body.access_token).payload.cnf).toEqual({ jkt: key.jkt });
}
describe('DPoP proof parts (lib/dpop.ts)', () => {
  it('takes one proof, refuses two headers (joined with a comma) and oversized ones', () => {
    expect(singleProof(undefined, 100)).toBeNull();
    expect(singleProof('a.b.c', 100)).toBe('a.b.c');
    expect(() => singleProof('a.b.c, d.e.f', 100)).toThrow(DpopProofError);
    expect(() => singleProof('', 100)).toThrow(DpopProofError);
    expect(() => singleProof('x'.repeat(101), 100)).toThrow(DpopProofError);
  });

  it('normalizes htu: no query or fragment, case of scheme and host, default port (RFC 9449 §4.3 (9))', () => {
    expect(normalizedHtu('HTTPS://Auth.Example.com:443/oauth2/token?x=1#f')).toBe('https://auth.example.com/oauth2/token');
    expect(normalizedHtu('http://localhost:8787/a/../oauth2/token')).toBe('http://localhost:8787/oauth2/token');
    expect(normalizedHtu('ftp://example.com/x')).toBeNull();
    expect(normalizedHtu('not a uri')).toBeNull();
  });

  it('sees private key members in a jwk', () => {
    expect(hasPrivateMembers({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' })).toBe(false);
    expect(hasPrivateMembers({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' })).toBe(true);
    expect(hasPrivateMembers({ kty: 'oct', k: 'k' })).toBe(true);
  });
});

describe('verifyDpopProof (RFC 9449 §4.3)', () => {
  let key: DpopKey;
  beforeAll(async () => {
    key = await dpopKey();
  });

  it.each(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'])('accepts a proof signed %s and answers its key thumbprint', async (alg) => {
    const own = await dpopKey(alg);
    const checked = await check(await proof(own));
    expect(checked.jkt).toBe(own.jkt);
    expect(checked.replayHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('lists exactly the algorithms it accepts', () => {
    expect([...DPOP_SIGNING_ALGS]).toEqual(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']);
  });

  it('refuses a proof of another typ', async () => {
    expect((await refusal(check(await proof(key, { typ: 'JWT' })))).code).toBe('invalid_dpop_proof');
  });

  it('ignores the query and fragment of htu, compares the rest', async () => {
    await check(await proof(key, { htu: `${TOKEN_URI}?a=1#b` }));
    await refusal(check(await proof(key, { htu: `${ISSUER}/oauth2/other` })));
    await refusal(check(await proof(key, { htu: 'https://evil.example/oauth2/token' })));
  });

  it('refuses another method', async () => {
    await refusal(check(await proof(key, { htm: 'GET' })));
  });

  it('refuses a stale iat, and one too far in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    await check(await proof(key, { iat: now - DPOP_PROOF_MAX_AGE + 5 }));
    await refusal(check(await proof(key, { iat: now - DPOP_PROOF_MAX_AGE - 5 })));
    await refusal(check(await proof(key, { iat: now + 120 })));
  });

  it('refuses a proof without jti, htm, htu or iat, and an oversized jti', async () => {
    for (const claim of ['jti', 'htm', 'htu', 'iat']) await refusal(check(await proof(key, { claims: { [claim]: undefined } })));
    await refusal(check(await proof(key, { jti: 'j'.repeat(257) })));
  });

  it('checks ath against the access token at a resource', async () => {
    await check(await proof(key, { accessToken: 'token-a' }), { accessToken: 'token-a' });
    await refusal(check(await proof(key, { accessToken: 'token-b' }), { accessToken: 'token-a' }));
    await refusal(check(await proof(key), { accessToken: 'token-a' }));
  });

  it('asks for the nonce when one is required, and refuses a wrong one even when not', async () => {
    expect((await refusal(check(await proof(key), { requireNonce: true }))).code).toBe('use_dpop_nonce');
    expect((await refusal(check(await proof(key, { nonce: 'made-up' }), { requireNonce: false }))).code).toBe('use_dpop_nonce');
    await check(await proof(key, { nonce: await serverNonce() }), { requireNonce: true });
  });
});

/** A public SPA-like client and a confidential one, each for the code flow with refresh tokens. */
async function clients(): Promise<{ browser: Browser; spa: RegisteredClient; web: RegisteredClient; userApi: string }> {
  const user = await createUser();
  const userApi = await userToken(user);
  const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials'];
  const spa = await registerClient(userApi, { token_endpoint_auth_method: 'none', grant_types: grantTypes.slice(0, 2) });
  const web = await registerClient(userApi, { grant_types: grantTypes });
  return { browser: await signedInBrowser(user), spa, web, userApi };
}

const SCOPE = 'openid offline_access books:read books:write';

describe('the token endpoint with DPoP (RFC 9449 §5)', () => {
  let browser: Browser;
  let spa: RegisteredClient;
  let web: RegisteredClient;
  beforeAll(async () => {
    ({ browser, spa, web } = await clients());
  });

  it('asks for its nonce first (use_dpop_nonce with DPoP-Nonce), spending nothing', async () => {
    const key = await dpopKey();
    const authorization = await authorizeWithConsent(browser, spa, { scope: SCOPE });
    const withoutNonce = await call('/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await proof(key) },
      body: new URLSearchParams({ client_id: spa.client_id, ...codeFields(authorization) }).toString(),
    });
    await expectJsonError(withoutNonce.clone(), 400, 'use_dpop_nonce');
    expect(withoutNonce.headers.get('DPoP-Nonce')).toBeTruthy();
    // The code is still good.
    const response = await dpopTokenRequest(spa, key, codeFields(authorization));
    expect(response.status, await response.clone().text()).toBe(200);
  });

  it('issues a DPoP token bound to the key (cnf.jkt), a bound refresh token, and the next nonce', async () => {
    const key = await dpopKey();
    const response = await dpopTokenRequest(spa, key, codeFields(await authorizeWithConsent(browser, spa, { scope: SCOPE })));
    expect(response.status).toBe(200);
    expect(response.headers.get('DPoP-Nonce')).toBeTruthy();
    const body = (await response.json()) as { token_type: string; access_token: string; refresh_token: string };
    expectBoundTo(body, key);
    const row = await env.DB.prepare('select dpop_jkt from refresh_tokens where hash = ?')
      .bind(await storedHash(body.refresh_token))
      .first<{ dpop_jkt: string | null }>();
    expect(row?.dpop_jkt).toBe(key.jkt);
  });

  it('refreshes a public client’s bound token only with its key; another key or none spends nothing', async () => {
    const key = await dpopKey();
    const issued = (await (
      await dpopTokenRequest(spa, key, codeFields(await authorizeWithConsent(browser, spa, { scope: SCOPE })))
    ).json()) as { refresh_token: string };
    const fields = { grant_type: 'refresh_token', refresh_token: issued.refresh_token };
    await expectJsonError(await dpopTokenRequest(spa, await dpopKey(), fields), 400, 'invalid_grant');
    await expectJsonError(await dpopTokenRequest(spa, null, fields), 400, 'invalid_grant');
    const refreshed = await dpopTokenRequest(spa, key, fields);
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    const body = (await refreshed.json()) as { token_type: string; access_token: string; refresh_token: string };
    expectBoundTo(body, key);
    // The successor stays bound.
    await expectJsonError(
      await dpopTokenRequest(spa, await dpopKey(), { grant_type: 'refresh_token', refresh_token: body.refresh_token }),
      400,
      'invalid_grant',
    );
  });

  it('binds a public client’s refresh token issued in answer to a DPoP proof, though its family began unbound (RFC 9449 §5)', async () => {
    // A bearer refresh token, from a code exchange without a proof.
    const issued = (await (
      await dpopTokenRequest(spa, null, codeFields(await authorizeWithConsent(browser, spa, { scope: SCOPE })))
    ).json()) as {
      refresh_token: string;
    };
    const key = await dpopKey();
    const refreshed = await dpopTokenRequest(spa, key, { grant_type: 'refresh_token', refresh_token: issued.refresh_token });
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    const body = (await refreshed.json()) as { refresh_token: string };
    const row = await env.DB.prepare('select dpop_jkt from refresh_tokens where hash = ?')
      .bind(await storedHash(body.refresh_token))
      .first<{ dpop_jkt: string | null }>();
    expect(row?.dpop_jkt).toBe(key.jkt);
    // Now only that key refreshes it.
    const next = { grant_type: 'refresh_token', refresh_token: body.refresh_token };
    await expectJsonError(await dpopTokenRequest(spa, null, next), 400, 'invalid_grant');
    await expectJsonError(await dpopTokenRequest(spa, await dpopKey(), next), 400, 'invalid_grant');
    expect((await dpopTokenRequest(spa, key, next)).status).toBe(200);
  });

  it('binds a confidential client’s access tokens but not its refresh tokens', async () => {
    const key = await dpopKey();
    const response = await dpopTokenRequest(web, key, codeFields(await authorizeWithConsent(browser, web, { scope: SCOPE })));
    const body = (await response.json()) as { token_type: string; refresh_token: string };
    expect(body.token_type).toBe('DPoP');
    const plain = await dpopTokenRequest(web, null, { grant_type: 'refresh_token', refresh_token: body.refresh_token });
    expect(plain.status).toBe(200);
    const refreshed = (await plain.json()) as { token_type: string; access_token: string };
    expect(refreshed.token_type).toBe('Bearer');
    expect(decodeJwt(refreshed.access_token).payload.cnf).toBeUndefined();
  });

  it('binds each of a confidential client’s DPoP refreshes to that refresh’s own key', async () => {
    const first = await dpopKey();
    const issued = await dpopTokenRequest(web, first, codeFields(await authorizeWithConsent(browser, web, { scope: SCOPE })));
    let refreshToken = ((await issued.json()) as { refresh_token: string }).refresh_token;
    // RFC 9449 §5: a confidential client's refresh token is not bound, so each refresh may prove another key,
    // and the access token it gets is bound to that key, not to the first one.
    for (const key of [await dpopKey(), await dpopKey('EdDSA')]) {
      const refreshed = await dpopTokenRequest(web, key, { grant_type: 'refresh_token', refresh_token: refreshToken });
      expect(refreshed.status, await refreshed.clone().text()).toBe(200);
      const body = (await refreshed.json()) as { token_type: string; access_token: string; refresh_token: string };
      expectBoundTo(body, key);
      const introspection = await introspectAs(web, body.access_token);
      expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
      refreshToken = body.refresh_token;
    }
  });

  it('binds client_credentials tokens', async () => {
    const key = await dpopKey();
    const response = await dpopTokenRequest(web, key, { grant_type: 'client_credentials', scope: 'books:read' });
    expect(response.status, await response.clone().text()).toBe(200);
    const body = (await response.json()) as { token_type: string; access_token: string };
    expectBoundTo(body, key);
    const introspection = await introspectAs(web, body.access_token);
    // RFC 9449 §6.2.
    expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('refuses a replayed proof and spends nothing', async () => {
    const key = await dpopKey();
    const authorization = await authorizeWithConsent(browser, spa, { scope: SCOPE });
    const jws = await proof(key, { nonce: await serverNonce() });
    const send = (fields: Record<string, string>) =>
      call('/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: jws },
        body: new URLSearchParams({ client_id: spa.client_id, ...fields }).toString(),
      });
    expect((await send(codeFields(authorization))).status).toBe(200);
    const other = await authorizeWithConsent(browser, spa, { scope: SCOPE });
    await expectJsonError(await send(codeFields(other)), 400, 'invalid_dpop_proof');
    // The second code was not spent by the refused request.
    expect((await dpopTokenRequest(spa, key, codeFields(other))).status).toBe(200);
  });

  it('refuses two DPoP headers', async () => {
    const key = await dpopKey();
    const headers = new Headers({ 'Content-Type': 'application/x-www-form-urlencoded' });
    headers.append('DPoP', await proof(key));
    headers.append('DPoP', await proof(key));
    const response = await call('/oauth2/token', { method: 'POST', headers, body: 'grant_type=client_credentials' });
    await expectJsonError(response, 400, 'invalid_dpop_proof');
  });
});

describe('resources with DPoP-bound tokens (RFC 9449 §7)', () => {
  let key: DpopKey;
  let token: string;
  beforeAll(async () => {
    const { browser, spa } = await clients();
    key = await dpopKey();
    const response = await dpopTokenRequest(spa, key, codeFields(await authorizeWithConsent(browser, spa, { scope: SCOPE })));
    token = ((await response.json()) as { access_token: string }).access_token;
  });

  it('reads and writes books, and answers userinfo, with Authorization: DPoP and a proof', async () => {
    const added = await dpopCall('/api/books', token, key, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Middlemarch', author: 'George Eliot' }),
    });
    expect(added.status, await added.clone().text()).toBe(201);
    const listed = await dpopCall('/api/books', token, key);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { title: string }[]).map((book) => book.title)).toEqual(['Middlemarch']);
    expect((await dpopCall('/oauth2/userinfo', token, key)).status).toBe(200);
  });

  it('refuses the bound token as Bearer (401 invalid_token) and offers both schemes', async () => {
    const response = await call('/api/books', { headers: bearer(token) });
    await expectJsonError(response.clone(), 401, 'invalid_token');
    const challenge = response.headers.get('WWW-Authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer realm="tollgate", error="invalid_token"/);
    expect(challenge).toContain('DPoP realm="tollgate", algs="ES256 ES384 EdDSA RS256 PS256"');
  });

  it('refuses a replayed proof, a proof by another key, and a proof without ath with 401 in the DPoP challenge', async () => {
    const jws = await proof(key, { htm: 'GET', htu: '/api/books', accessToken: token });
    const send = () => call('/api/books', { headers: { Authorization: `DPoP ${token}`, DPoP: jws } });
    expect((await send()).status).toBe(200);
    const replay = await send();
    await expectJsonError(replay.clone(), 401, 'invalid_dpop_proof');
    expect(replay.headers.get('WWW-Authenticate')).toMatch(/^DPoP realm="tollgate", error="invalid_dpop_proof"/);
    expect(replay.headers.get('DPoP-Nonce')).toBeTruthy();
    const other = await dpopKey();
    const wrongKey = await call('/api/books', {
      headers: { Authorization: `DPoP ${token}`, DPoP: await proof(other, { htm: 'GET', htu: '/api/books', accessToken: token }) },
    });
    await expectJsonError(wrongKey, 401, 'invalid_dpop_proof');
    await expectJsonError(
      await dpopCall('/api/books', token, key, {}, { accessToken: undefined, claims: { ath: undefined } }),
      401,
      'invalid_dpop_proof',
    );
  });

  it('writes nothing for a refused write', async () => {
    const response = await dpopCall(
      '/api/books',
      token,
      key,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Unseen', author: 'X' }) },
      { htm: 'GET' },
    );
    await expectJsonError(response, 401, 'invalid_dpop_proof');
    const titles = ((await (await dpopCall('/api/books', token, key)).json()) as { title: string }[]).map((book) => book.title);
    expect(titles).not.toContain('Unseen');
  });
});

describe('dpop_jkt at the authorization endpoint (RFC 9449 §10)', () => {
  it('binds the code: only a proof by that key redeems it; a bad dpop_jkt is invalid_request', async () => {
    const { browser, spa } = await clients();
    const key = await dpopKey();
    const { verifier, challenge } = await pkce();
    const redirectUri = spa.redirect_uris[0]!;
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: spa.client_id,
      redirect_uri: redirectUri,
      scope: SCOPE,
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
      dpop_jkt: key.jkt,
    });
    const consent = await browser.get(`/oauth2/authorize?${query}`);
    const html = await consent.text();
    expect(consent.status, html.slice(0, 300)).toBe(200);
    const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
    const code = new URL(decision.headers.get('Location')!).searchParams.get('code')!;
    const fields = codeFields({ code, redirectUri, verifier });
    await expectJsonError(await dpopTokenRequest(spa, await dpopKey(), fields), 400, 'invalid_grant');
    await expectJsonError(await dpopTokenRequest(spa, null, fields), 400, 'invalid_grant');
    const response = await dpopTokenRequest(spa, key, fields);
    expect(response.status, await response.clone().text()).toBe(200);

    const refused = await browser.get(
      `/oauth2/authorize?response_type=code&client_id=${spa.client_id}&redirect_uri=${encodeURIComponent(spa.redirect_uris[0]!)}&scope=openid&state=s&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256&dpop_jkt=short`,
    );
    expect(refused.status).toBe(302);
    expect(new URL(refused.headers.get('Location')!).searchParams.get('error')).toBe('invalid_request');
  });
});

describe('clients registered with dpop_bound_access_tokens (RFC 9449 §5.2)', () => {
  it('get tokens only with a proof; a request without one spends nothing', async () => {
    const user = await createUser();
    const userApi = await userToken(user);
    const client = await registerClient(userApi, {
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      dpop_bound_access_tokens: true,
    });
    expect(client.dpop_bound_access_tokens).toBe(true);
    const browser = await signedInBrowser(user);
    const fields = codeFields(await authorizeWithConsent(browser, client, { scope: SCOPE }));
    await expectJsonError(await dpopTokenRequest(client, null, fields), 400, 'invalid_dpop_proof');
    expect((await dpopTokenRequest(client, await dpopKey(), fields)).status).toBe(200);
  });

  it('refresh only with a proof, even a confidential client’s unbound refresh token; a refresh without one spends nothing', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user), {
      grant_types: ['authorization_code', 'refresh_token'],
      dpop_bound_access_tokens: true,
    });
    const browser = await signedInBrowser(user);
    const issued = await dpopTokenRequest(
      client,
      await dpopKey(),
      codeFields(await authorizeWithConsent(browser, client, { scope: SCOPE })),
    );
    expect(issued.status, await issued.clone().text()).toBe(200);
    const refreshToken = ((await issued.json()) as { refresh_token: string }).refresh_token;
    // A confidential client's refresh token is not bound to a key (RFC 9449 §5): only the registration asks for the proof.
    const row = await env.DB.prepare('select dpop_jkt from refresh_tokens where hash = ?')
      .bind(await storedHash(refreshToken))
      .first<{ dpop_jkt: string | null }>();
    expect(row).toEqual({ dpop_jkt: null });
    const fields = { grant_type: 'refresh_token', refresh_token: refreshToken };
    await expectJsonError(await dpopTokenRequest(client, null, fields), 400, 'invalid_dpop_proof');
    const used = await env.DB.prepare('select used_at from refresh_tokens where hash = ?')
      .bind(await storedHash(refreshToken))
      .first<{ used_at: number | null }>();
    expect(used).toEqual({ used_at: null });
    const key = await dpopKey();
    const refreshed = await dpopTokenRequest(client, key, fields);
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    const body = (await refreshed.json()) as { token_type: string; access_token: string };
    expectBoundTo(body, key);
  });

  it('client_credentials only with a proof', async () => {
    const client = await registerClient(await userToken(await createUser()), {
      grant_types: ['client_credentials'],
      dpop_bound_access_tokens: true,
    });
    const fields = { grant_type: 'client_credentials', scope: 'books:read' };
    await expectJsonError(await dpopTokenRequest(client, null, fields), 400, 'invalid_dpop_proof');
    const key = await dpopKey();
    const response = await dpopTokenRequest(client, key, fields);
    expect(response.status, await response.clone().text()).toBe(200);
    const body = (await response.json()) as { token_type: string; access_token: string };
    expectBoundTo(body, key);
  });
});

describe('metadata and CORS', () => {
  it('lists the proof algorithms in both metadata documents and the protected resource metadata', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const metadata = (await (await call(path)).json()) as Record<string, unknown>;
      expect(metadata.dpop_signing_alg_values_supported).toEqual(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']);
    }
    for (const path of ['/api/books', '/mcp']) {
      const metadata = (await (await call(`/.well-known/oauth-protected-resource${path}`)).json()) as Record<string, unknown>;
      expect(metadata.dpop_signing_alg_values_supported).toEqual(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']);
      expect(metadata.dpop_bound_access_tokens_required).toBe(false);
    }
  });
});

describe('replay state', () => {
  it('the daily prune deletes expired proof rows, through their index', async () => {
    const now = Math.floor(Date.now() / 1000);
    await env.DB.batch([
      env.DB.prepare('insert into dpop_proofs (hash, expires_at) values (?, ?)').bind('old-proof', now - 3 * 24 * 3600),
      env.DB.prepare('insert into dpop_proofs (hash, expires_at) values (?, ?)').bind('live-proof', now + 60),
    ]);
    await pruneExpiredRows(deps, now);
    const rows = await env.DB.prepare("select hash from dpop_proofs where hash in ('old-proof', 'live-proof')").all<{ hash: string }>();
    expect(rows.results.map((row) => row.hash)).toEqual(['live-proof']);
    const plan = await env.DB.prepare('EXPLAIN QUERY PLAN DELETE FROM dpop_proofs WHERE expires_at < ?').bind(0).all<{ detail: string }>();
    expect(plan.results.map((row) => row.detail).join('\n')).toMatch(/USING (COVERING )?INDEX dpop_proofs_expires_idx/);
  });
});
