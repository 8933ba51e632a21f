import { env } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, dpopTokenRequest, proof, serverNonce } from './dpop-support';
import {
  basic,
  createUser,
  expectJsonError,
  form,
  formAction,
  hiddenFields,
  pkce,
  REDIRECT_URI,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  type TestUser,
  userToken,
} from './helpers';

// RFC 9449 §10.1: a DPoP proof sent with a pushed authorization request
// (RFC 9126) binds the request, and so its code, to the proof's key, as the
// dpop_jkt parameter does.

const PAR = '/oauth2/par';

let user: TestUser;
let spa: RegisteredClient;
let web: RegisteredClient;

beforeAll(async () => {
  user = await createUser();
  const token = await userToken(user);
  [spa, web] = await Promise.all([
    registerClient(token, { token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] }),
    registerClient(token),
  ]);
});

async function pushedRows(clientId: string): Promise<Record<string, unknown>[]> {
  const { results } = await env.DB.prepare('select * from pushed_requests where client_id = ?').bind(clientId).all();
  return results;
}

/** A push by `client` with its PKCE pair; `dpop` is the DPoP header, if any. */
async function push(client: RegisteredClient, overrides: Record<string, string>, dpop?: string) {
  const { verifier, challenge } = await pkce();
  const fields: Record<string, string> = {
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid books:read',
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
    ...overrides,
  };
  const headers: Record<string, string> = dpop ? { DPoP: dpop } : {};
  const response = client.client_secret
    ? await form(PAR, fields, { ...headers, Authorization: basic(client.client_id, client.client_secret) })
    : await form(PAR, { ...fields, client_id: client.client_id }, headers);
  return { response, verifier };
}

/** A proof for the PAR endpoint with the server's nonce (the token endpoint's rule, which PAR shares). */
async function parProof(key: Awaited<ReturnType<typeof dpopKey>>, options: Parameters<typeof proof>[1] = {}) {
  return proof(key, { htu: PAR, nonce: await serverNonce(), ...options });
}

/** The code the pushed request gives, after the user allows it. */
async function codeOf(client: RegisteredClient, requestUri: string): Promise<string> {
  const browser = await signedInBrowser(user);
  const consent = await browser.get(
    `/oauth2/authorize?client_id=${encodeURIComponent(client.client_id)}&request_uri=${encodeURIComponent(requestUri)}`,
  );
  const html = await consent.text();
  expect(consent.status, html.slice(0, 300)).toBe(200);
  const decision = await browser.post(formAction(html), { ...hiddenFields(html), decision: 'allow' });
  expect(decision.status).toBe(303);
  return new URL(decision.headers.get('Location')!).searchParams.get('code')!;
}

describe('DPoP at the PAR endpoint (RFC 9449 §10.1)', () => {
  it('a proof binds the pushed request: its code is redeemed only with a proof by that key', async () => {
    const key = await dpopKey();
    const { response, verifier } = await push(spa, {}, await parProof(key));
    const body = (await response.json()) as { request_uri: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    // §8.1: the answer to a request with a proof carries the next nonce.
    expect(response.headers.get('DPoP-Nonce')).toBeTruthy();
    const [row] = await pushedRows(spa.client_id);
    expect(JSON.parse(String(row!.parameters))).toMatchObject({ dpop_jkt: key.jkt });

    const code = await codeOf(spa, body.request_uri);
    const fields = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
    await expectJsonError(await dpopTokenRequest(spa, null, fields), 400, 'invalid_grant');
    await expectJsonError(await dpopTokenRequest(spa, await dpopKey(), fields), 400, 'invalid_grant');
    const tokens = await dpopTokenRequest(spa, key, fields);
    const issued = (await tokens.json()) as { token_type: string; access_token: string };
    expect(tokens.status, JSON.stringify(issued)).toBe(200);
    expect(issued.token_type).toBe('DPoP');
    expect(decodeJwt(issued.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('a confidential client binds its request the same way, and dpop_jkt naming the same key is accepted', async () => {
    const key = await dpopKey();
    const { response } = await push(web, { dpop_jkt: key.jkt }, await parProof(key));
    expect(response.status, await response.clone().text()).toBe(201);
    const rows = await pushedRows(web.client_id);
    expect(rows.map((row) => JSON.parse(String(row.parameters)).dpop_jkt)).toContain(key.jkt);
  });

  it('dpop_jkt naming another key than the proof’s is 400 invalid_dpop_proof, and nothing is stored', async () => {
    const client = await registerClient(await userToken(user), { token_endpoint_auth_method: 'none' });
    const key = await dpopKey();
    const { response } = await push(client, { dpop_jkt: (await dpopKey()).jkt }, await parProof(key));
    await expectJsonError(response, 400, 'invalid_dpop_proof');
    expect(response.headers.get('DPoP-Nonce')).toBeTruthy();
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it.each([
    ['for the token endpoint', 'invalid_dpop_proof', { htu: '/oauth2/token' }],
    ['for GET', 'invalid_dpop_proof', { htm: 'GET' }],
    ['an hour old', 'invalid_dpop_proof', { iat: Math.floor(Date.now() / 1000) - 3600 }],
    ['of another typ', 'invalid_dpop_proof', { typ: 'JWT' }],
    ['without the server’s nonce', 'use_dpop_nonce', { nonce: undefined }],
  ])('a proof %s is 400 %s, and nothing is stored', async (_, error, options) => {
    const client = await registerClient(await userToken(user), { token_endpoint_auth_method: 'none' });
    const { response } = await push(client, {}, await parProof(await dpopKey(), options));
    await expectJsonError(response, 400, error);
    expect(response.headers.get('DPoP-Nonce')).toBeTruthy();
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it('a proof signed by another key than its jwk, or a header that is no proof, is refused and nothing is stored', async () => {
    const client = await registerClient(await userToken(user), { token_endpoint_auth_method: 'none' });
    const forged = await parProof(await dpopKey(), { jwk: (await dpopKey()).jwk });
    await expectJsonError((await push(client, {}, forged)).response, 400, 'invalid_dpop_proof');
    await expectJsonError((await push(client, {}, 'not-a-proof')).response, 400, 'invalid_dpop_proof');
    expect(await pushedRows(client.client_id)).toHaveLength(0);
  });

  it('a push without a proof stays unbound: its code is redeemed with or without one', async () => {
    const { response, verifier } = await push(spa, {});
    const body = (await response.json()) as { request_uri: string };
    expect(response.status).toBe(201);
    expect(response.headers.get('DPoP-Nonce')).toBeNull();
    const code = await codeOf(spa, body.request_uri);
    const fields = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
    const tokens = await dpopTokenRequest(spa, null, fields);
    expect(tokens.status, await tokens.clone().text()).toBe(200);
  });
});
