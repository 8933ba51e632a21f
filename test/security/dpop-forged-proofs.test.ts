import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { DPOP_PROOF_MAX_AGE } from '../../src/config';
import { type DpopKey, dpopCall, dpopKey, proof, serverNonce } from '../dpop-support';
import { b64url, call, createUser, expectJsonError, ISSUER, type RegisteredClient, registerClient, userToken } from '../helpers';

// RFC 9449 §4.3 and §11: proofs a client (or an attacker) could forge or keep
// are refused at the token endpoint with 400 invalid_dpop_proof (or
// use_dpop_nonce, with the nonce to use), and nothing is issued.

const encode = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

function claims(nonce?: string): Record<string, unknown> {
  return {
    htm: 'POST',
    htu: `${ISSUER}/oauth2/token`,
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
    ...(nonce ? { nonce } : {}),
  };
}

describe('DPoP: forged and stale proofs at the token endpoint', () => {
  let client: RegisteredClient;
  let key: DpopKey;

  beforeAll(async () => {
    client = await registerClient(await userToken(await createUser()), { grant_types: ['client_credentials'] });
    key = await dpopKey();
  });

  /** A client_credentials request with `dpop` as its DPoP header. */
  function tokenRequest(dpop: string): Promise<Response> {
    const basic = `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`;
    return call('/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic, DPoP: dpop },
      body: 'grant_type=client_credentials&scope=books%3Aread',
    });
  }

  it('takes a good proof (the baseline)', async () => {
    const response = await tokenRequest(await proof(key, { nonce: await serverNonce() }));
    expect(response.status, await response.clone().text()).toBe(200);
  });

  it('refuses alg none', async () => {
    const unsigned = `${encode({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${encode(claims(await serverNonce()))}.`;
    await expectJsonError(await tokenRequest(unsigned), 400, 'invalid_dpop_proof');
  });

  it('refuses HS256 with a symmetric key in the header', async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const jws = await new SignJWT(claims(await serverNonce()))
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: b64url(secret) } as JWK })
      .sign(secret);
    await expectJsonError(await tokenRequest(jws), 400, 'invalid_dpop_proof');
  });

  it('refuses a jwk that carries the private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jws = await new SignJWT(claims(await serverNonce()))
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(privateKey) })
      .sign(privateKey);
    await expectJsonError(await tokenRequest(jws), 400, 'invalid_dpop_proof');
  });

  it('refuses a proof signed by another key than its jwk', async () => {
    const other = await dpopKey();
    await expectJsonError(await tokenRequest(await proof(key, { nonce: await serverNonce(), jwk: other.jwk })), 400, 'invalid_dpop_proof');
  });

  it('refuses a stale proof (iat older than the window) and one from the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    const nonce = await serverNonce();
    await expectJsonError(await tokenRequest(await proof(key, { nonce, iat: now - DPOP_PROOF_MAX_AGE - 10 })), 400, 'invalid_dpop_proof');
    await expectJsonError(await tokenRequest(await proof(key, { nonce, iat: now + 600 })), 400, 'invalid_dpop_proof');
  });

  it('asks for the nonce when it is missing or wrong, and names the one to use', async () => {
    for (const nonce of [undefined, 'made-up-nonce']) {
      const response = await tokenRequest(await proof(key, nonce ? { nonce } : {}));
      await expectJsonError(response.clone(), 400, 'use_dpop_nonce');
      const next = response.headers.get('DPoP-Nonce');
      expect(next).toBeTruthy();
      expect((await tokenRequest(await proof(key, { nonce: next! }))).status).toBe(200);
    }
  });

  it('refuses a wrong nonce at a resource too (401 use_dpop_nonce with DPoP-Nonce)', async () => {
    const response = await tokenRequest(await proof(key, { nonce: await serverNonce() }));
    const token = ((await response.json()) as { access_token: string }).access_token;
    const refused = await dpopCall('/api/books', token, key, {}, { nonce: 'made-up-nonce' });
    // A client_credentials token has no user's books (403 after), but the proof is checked first.
    await expectJsonError(refused.clone(), 401, 'use_dpop_nonce');
    expect(refused.headers.get('WWW-Authenticate')).toMatch(/^DPoP realm="tollgate", error="use_dpop_nonce"/);
    expect(refused.headers.get('DPoP-Nonce')).toBeTruthy();
  });
});
