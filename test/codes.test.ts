import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { hashSecret } from '../src/lib/crypto';
import {
  authorizeUrl,
  authorizeWithConsent,
  call,
  createUser,
  formAction,
  hiddenFields,
  pkce,
  redeem,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';

async function issuedCode() {
  const user = await createUser();
  const client = await registerClient(await userToken(user));
  const authorization = await authorizeWithConsent(await signedInBrowser(user), client, { scope: 'books:read' });
  return { client, authorization, hash: await hashSecret(authorization.code) };
}

describe('authorization codes in D1', () => {
  it('stores only the hash of a code in D1, and nothing of it in KV (issue 16: the KV copy went, two KV calls per flow)', async () => {
    const { authorization, hash } = await issuedCode();
    const row = await env.DB.prepare('select * from codes where hash = ?').bind(hash).first();
    expect(row).not.toBeNull();
    expect(JSON.stringify(row)).not.toContain(authorization.code);
    expect(await env.KV.get(`code:${hash}`)).toBeNull();
    const keys = await env.KV.list();
    expect(keys.keys.map((k) => k.name).join(' ')).not.toContain(authorization.code);
    expect(keys.keys.map((k) => k.name).join(' ')).not.toContain(hash);
  });

  it('never makes a redeemed code valid again', async () => {
    const { client, authorization } = await issuedCode();
    expect((await redeem(client, authorization)).status).toBe(200);
    const replay = await redeem(client, authorization);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('treats a replay alike however it is presented: the grant is revoked', async () => {
    const { client, authorization } = await issuedCode();
    const tokens = (await (await redeem(client, authorization)).json()) as { access_token: string };
    const books = () => call('/api/books', { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    expect((await books()).status).toBe(200);
    // The replay even gets the verifier wrong.
    const replay = await redeem(client, authorization, { code_verifier: 'x'.repeat(43) });
    expect(replay.status).toBe(400);
    expect((await books()).status).toBe(401);
  });

  it('refuses an expired code', async () => {
    const { client, authorization, hash } = await issuedCode();
    await env.DB.prepare('update codes set expires_at = 1 where hash = ?').bind(hash).run();
    const response = await redeem(client, authorization);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('one authorization request, one code', () => {
  it('refuses a second Allow even when KV still shows the request (D1 UNIQUE decides)', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    const { challenge } = await pkce();
    const consent = await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: client.redirect_uris[0],
        scope: 'books:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const html = await consent.text();
    const fields = hiddenFields(html);
    const key = `authreq:${fields.request_id}`;
    const pending = await env.KV.get(key);
    expect(pending).not.toBeNull();

    const first = await browser.post(formAction(html), { ...fields, decision: 'allow' });
    expect(first.status).toBe(303);
    // Another location may still read the request from KV after it was deleted here.
    await env.KV.put(key, pending!, { expirationTtl: 600 });
    const second = await browser.post(formAction(html), { ...fields, decision: 'allow' });
    expect(second.status).toBe(400);
    expect(await second.text()).toContain('already answered');
    const codes = await env.DB.prepare('select count(*) as n from codes where client_id = ?').bind(client.client_id).first<{ n: number }>();
    expect(codes?.n).toBe(1);
  });
});
