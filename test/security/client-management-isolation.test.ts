import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  Browser,
  basic,
  bearer,
  call,
  createUser,
  expectJsonError,
  pkce,
  REDIRECT_URI,
  registerClient,
  unique,
  userToken,
} from '../helpers';

// RFC 7592 §2 with RFC 6750: a registration access token manages exactly one
// client. Another client's token, a garbage one, a user API token, or the
// token of a deleted client reads, changes and deletes nothing, and the
// answer is the same 401 whether or not the client id exists, so a token
// holder cannot probe for client ids.

interface Managed {
  client_id: string;
  client_secret?: string;
  registration_client_uri: string;
  registration_access_token: string;
}

let ownerToken: string;

beforeAll(async () => {
  ownerToken = await userToken(await createUser());
});

async function registered(): Promise<Managed> {
  return (await registerClient(ownerToken)) as unknown as Managed;
}

async function row(id: string) {
  return env.DB.prepare('select name, redirect_uris from clients where id = ?').bind(id).first();
}

/** GET, PUT and DELETE on `uri` with `headers`: each answer. */
async function everyMethod(uri: string, headers: Record<string, string>, clientId: string): Promise<Response[]> {
  const body = JSON.stringify({ client_id: clientId, client_name: 'Hijacked', redirect_uris: ['https://evil.example/cb'] });
  return Promise.all([
    call(uri, { headers }),
    call(uri, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body }),
    call(uri, { method: 'DELETE', headers }),
  ]);
}

async function expectRefused(responses: Response[]): Promise<string[]> {
  const bodies: string[] = [];
  for (const response of responses) {
    const body = await expectJsonError(response.clone(), 401, 'invalid_token');
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="tollgate"/);
    bodies.push(JSON.stringify(body));
  }
  return bodies;
}

describe('one client reaching for another client’s registration', () => {
  it('with its own registration access token: 401 for read, change and delete, and the victim is untouched', async () => {
    const [attacker, target] = await Promise.all([registered(), registered()]);
    const before = await row(target.client_id);
    await expectRefused(await everyMethod(target.registration_client_uri, bearer(attacker.registration_access_token), target.client_id));
    expect(await row(target.client_id)).toEqual(before);
    // The victim's own token still works.
    expect((await call(target.registration_client_uri, { headers: bearer(target.registration_access_token) })).status).toBe(200);
  });

  it("a PUT naming the victim's client_id at the attacker's own URI is invalid_request, and changes neither", async () => {
    const [attacker, target] = await Promise.all([registered(), registered()]);
    const response = await call(attacker.registration_client_uri, {
      method: 'PUT',
      headers: { ...bearer(attacker.registration_access_token), 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: target.client_id, client_name: 'Hijacked', redirect_uris: [REDIRECT_URI] }),
    });
    await expectJsonError(response, 400, 'invalid_request');
    expect((await row(target.client_id))!.name).toBe('Reading List');
    expect((await row(attacker.client_id))!.name).toBe('Reading List');
  });

  it('an unknown client id answers exactly as a wrong token does: nothing tells whether a client exists', async () => {
    const [attacker, target] = await Promise.all([registered(), registered()]);
    const existing = await expectRefused(
      await everyMethod(target.registration_client_uri, bearer(attacker.registration_access_token), target.client_id),
    );
    const missing = await expectRefused(
      await everyMethod(`${target.registration_client_uri}nope`, bearer(attacker.registration_access_token), `${target.client_id}nope`),
    );
    expect(missing).toEqual(existing);
  });

  it.each([
    ['no Authorization header', {}],
    ['a garbage Bearer token', bearer('garbage')],
    ['an empty-looking token', { Authorization: 'Bearer ' }],
    ['Basic client credentials', {}],
    ['the client secret as a Bearer token', {}],
  ])('%s: 401, and nothing changes', async (kind, headers) => {
    const target = await registered();
    let sent: Record<string, string> = headers as Record<string, string>;
    if (kind === 'Basic client credentials') sent = { Authorization: basic(target.client_id, target.client_secret!) };
    if (kind === 'the client secret as a Bearer token') sent = bearer(target.client_secret!);
    const before = await row(target.client_id);
    const responses = await everyMethod(target.registration_client_uri, sent, target.client_id);
    for (const response of responses) await expectJsonError(response, 401, 'invalid_token');
    expect(await row(target.client_id)).toEqual(before);
  });

  it("the owner's user API token is not a registration access token", async () => {
    const target = await registered();
    await expectRefused(await everyMethod(target.registration_client_uri, bearer(ownerToken), target.client_id));
    expect((await row(target.client_id))!.name).toBe('Reading List');
  });

  it("a deleted client's token opens nothing, not even a client registered later", async () => {
    const target = await registered();
    const remove = await call(target.registration_client_uri, { method: 'DELETE', headers: bearer(target.registration_access_token) });
    expect(remove.status).toBe(204);
    await expectRefused(await everyMethod(target.registration_client_uri, bearer(target.registration_access_token), target.client_id));
    const later = await registered();
    await expectRefused(await everyMethod(later.registration_client_uri, bearer(target.registration_access_token), later.client_id));
  });

  it('a client ID metadata document client has no registration access token: its document manages it', async () => {
    const clientId = `https://client.example/good/${unique('doc')}`;
    const { challenge } = await pkce();
    const browser = new Browser();
    // A first authorization request makes Tollgate fetch and keep the document's client.
    await browser.get(
      authorizeUrl({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: 'https://app.client.example/callback',
        scope: 'books:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const stored = await env.DB.prepare('select registration_token_hash from clients where id = ?').bind(clientId).first();
    expect(stored).toEqual({ registration_token_hash: null });
    const uri = `/oauth2/register/${encodeURIComponent(clientId)}`;
    await expectRefused(await everyMethod(uri, bearer('anything'), clientId));
    expect(await row(clientId)).not.toBeNull();
  });
});
