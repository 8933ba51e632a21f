import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createDeps } from '../src/deps';
import { OAuthError, PageError } from '../src/errors';
import { now, randomSecret } from '../src/lib/crypto';
import { type AuthorizationRequest, approve, decide, readRequest, sealForSignIn } from '../src/services/authorization';
import { AUTHORIZATION_CHECKS, checkParameters, checkScope, readTarget, runChecks } from '../src/services/authorization/checks';
import { findClient } from '../src/storage/clients';
import type { Client, Grant, User } from '../src/storage/schema';
import type { SessionInfo } from '../src/storage/sessions';
import { createUser, pkce, REDIRECT_URI, registerClient, unique, userToken } from './helpers';

// The authorization service without HTTP: parameters are a plain record, the
// decision a value. The endpoint's own tests (authorize.test.ts) cover the
// same rules through GET and POST /oauth2/authorize.

const client: Client = {
  id: 'client-1',
  ownerId: 'owner-1',
  name: 'Reading List',
  secretHash: null,
  tokenEndpointAuthMethod: 'none',
  redirectUris: [REDIRECT_URI],
  postLogoutRedirectUris: [],
  grantTypes: ['authorization_code'],
  scope: null,
  createdAt: 0,
  metadataExpiresAt: null,
  requirePushedAuthorizationRequests: false,
  registrationTokenHash: null,
  dpopBoundAccessTokens: false,
  jwks: null,
  jwksUri: null,
  jwksUriCache: null,
  tokenEndpointAuthSigningAlg: null,
};

const user: User = {
  id: 'user-1',
  email: 'ada@example.com',
  name: 'Ada Reader',
  passwordHash: 'x',
  createdAt: 0,
  emailVerifiedAt: null,
  role: 'user',
  disabledAt: null,
};

function session(idHash: string, authTime: number): SessionInfo {
  return { idHash, user, authTime, amr: ['pwd'] };
}

function grant(scope: string): Grant {
  return { id: 'grant-1', userId: user.id, clientId: client.id, scope, createdAt: 0, updatedAt: 0, lastUsedAt: null };
}

function request(overrides: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return {
    id: unique('request'),
    clientId: client.id,
    redirectUri: REDIRECT_URI,
    scope: ['openid', 'books:read'],
    state: 'st',
    nonce: null,
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    prompt: [],
    maxAge: null,
    loginHint: null,
    createdAt: now(),
    userId: null,
    signInAsked: null,
    ...overrides,
  };
}

describe('parse and validate', () => {
  const params = {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: REDIRECT_URI,
    scope: 'openid books:read',
    state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    prompt: 'login consent',
    max_age: '60',
    login_hint: 'ada@example.com',
  };

  it('builds the request from a plain record of parameters, step by step', () => {
    const { request: built } = runChecks(AUTHORIZATION_CHECKS, params, client);
    expect(built).toEqual({
      codeChallenge: params.code_challenge,
      prompt: ['login', 'consent'],
      maxAge: 60,
      scope: ['openid', 'books:read'],
      state: 'st',
      nonce: null,
      loginHint: 'ada@example.com',
    });
  });

  it('step 1 refuses a repeated client_id with a page error that says so', () => {
    expect(() => readTarget({ ...params, client_id: [client.id, client.id] })).toThrow(PageError);
    expect(() => readTarget({ ...params, client_id: [client.id, client.id] })).toThrow(/client_id must not be repeated \(RFC 6749 §3\.1\)/);
  });

  it('step 2 refuses a repeated scope as invalid_request that says so', () => {
    const error = catchError(() => runChecks(AUTHORIZATION_CHECKS, { ...params, scope: ['openid', 'books:read'] }, client));
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ code: 'invalid_request', message: 'scope must not be repeated (RFC 6749 §3.1)' });
  });

  it('runs its steps in order: the response type is refused before PKCE', () => {
    const error = catchError(() =>
      runChecks(AUTHORIZATION_CHECKS, { ...params, response_type: 'token', code_challenge_method: 'plain' }, client),
    );
    expect(error).toMatchObject({ code: 'unsupported_response_type' });
  });

  it('lets an entry point without a redirect URI or PKCE pick only the steps it needs (a device request, RFC 8628 §3.1)', () => {
    const { request: built } = runChecks([checkParameters, checkScope], { client_id: client.id, scope: 'books:read' }, client);
    expect(built).toEqual({ scope: ['books:read'] });
    const error = catchError(() => runChecks([checkParameters, checkScope], { client_id: client.id, scope: 'admin' }, client));
    expect(error).toMatchObject({ code: 'invalid_scope' });
  });
});

describe('decide', () => {
  it('prompt=login: a session signed in within the same second as the request is not a sign-in for it', () => {
    const asked = request({ prompt: ['login'] });
    const decision = decide({ client, request: asked, session: session('old', asked.createdAt), grant: null });
    expect(decision).toMatchObject({ kind: 'sign-in', pending: { id: asked.id, signInAsked: { previousSession: 'old' } } });
  });

  it('prompt=login: a new session after the request sent the browser to sign in is, the same session is not', () => {
    const pending = request({ prompt: ['login'], signInAsked: { previousSession: 'old' } });
    // The new sign-in may carry an auth_time before the request's own second (clocks of two isolates): it still counts.
    expect(decide({ client, request: pending, session: session('new', pending.createdAt - 1), grant: null })).toMatchObject({
      kind: 'consent',
    });
    expect(decide({ client, request: pending, session: session('old', pending.createdAt + 5), grant: null })).toMatchObject({
      kind: 'sign-in',
    });
  });

  it('max_age: an older sign-in is sent to sign in again; a sign-in made for the request passes even max_age=0', () => {
    const fresh = request({ maxAge: 0 });
    expect(decide({ client, request: fresh, session: session('old', fresh.createdAt - 3600), grant: null })).toMatchObject({
      kind: 'sign-in',
    });
    const resumed = { ...fresh, signInAsked: { previousSession: 'old' } };
    expect(decide({ client, request: resumed, session: session('new', fresh.createdAt + 2), grant: null })).toMatchObject({
      kind: 'consent',
    });
  });

  it('approves without asking when the grant covers every scope asked for, unless prompt=consent', () => {
    const asked = request();
    const remembered = decide({
      client,
      request: asked,
      session: session('s', asked.createdAt),
      grant: grant('openid books:read books:write'),
    });
    expect(remembered).toMatchObject({ kind: 'approve', approval: { consented: false, approvedBefore: 'openid books:read books:write' } });
    const prompted = decide({
      client,
      request: { ...asked, prompt: ['consent'] },
      session: session('s', asked.createdAt),
      grant: grant('openid books:read'),
    });
    expect(prompted).toMatchObject({ kind: 'consent', pending: { userId: user.id }, user });
    const wider = decide({
      client,
      request: { ...asked, scope: ['openid', 'books:write'] },
      session: session('s', asked.createdAt),
      grant: grant('openid'),
    });
    expect(wider).toMatchObject({ kind: 'consent' });
  });

  it('prompt=none: login_required without a session, consent_required without a covering grant, each with state', () => {
    const asked = request({ prompt: ['none'] });
    expect(decide({ client, request: asked, session: null, grant: null })).toEqual({
      kind: 'refuse',
      to: { redirectUri: REDIRECT_URI, params: { error: 'login_required', error_description: 'the user is not signed in', state: 'st' } },
    });
    expect(decide({ client, request: asked, session: session('s', asked.createdAt), grant: null })).toMatchObject({
      kind: 'refuse',
      to: { params: { error: 'consent_required', state: 'st' } },
    });
  });

  // RFC 8252 §8.6 (issue 11, finding 8): a redirect URI that any app on the device can take does not identify a public client.
  it('never remembers consent for a public client whose redirect URI is not https: the page, or consent_required', () => {
    const covering = grant('openid books:read');
    for (const redirectUri of ['http://127.0.0.1:51234/cb', 'http://[::1]:8080/cb', 'com.example.reader:/cb', 'http://localhost:3000/cb']) {
      const asked = request({ redirectUri });
      const signedIn = session('s', asked.createdAt);
      expect(decide({ client, request: asked, session: signedIn, grant: covering }), redirectUri).toMatchObject({ kind: 'consent' });
      expect(decide({ client, request: { ...asked, prompt: ['none'] }, session: signedIn, grant: covering }), redirectUri).toMatchObject({
        kind: 'refuse',
        to: { redirectUri, params: { error: 'consent_required' } },
      });
    }
  });

  it('keeps remembered consent for a confidential client on a loopback redirect URI and a public one on https', () => {
    const covering = grant('openid books:read');
    const confidential: Client = { ...client, tokenEndpointAuthMethod: 'client_secret_basic', secretHash: 'h' };
    const loopback = request({ redirectUri: 'http://127.0.0.1:51234/cb' });
    expect(decide({ client: confidential, request: loopback, session: session('s', loopback.createdAt), grant: covering })).toMatchObject({
      kind: 'approve',
    });
    const https = request();
    expect(decide({ client, request: https, session: session('s', https.createdAt), grant: covering })).toMatchObject({ kind: 'approve' });
  });
});

describe('readRequest and approve, against D1 and KV', () => {
  async function registered() {
    const owner = await createUser();
    const { client_id: clientId } = await registerClient(await userToken(owner));
    const deps = createDeps(env);
    const row = await findClient(deps.db, clientId);
    const stored = await deps.db.query.users.findFirst({ where: (users, { eq }) => eq(users.id, owner.id) });
    return { deps, client: row!, user: stored! };
  }

  it('reads a new request from a plain record, and answers a step-2 error as a redirect with the request’s state', async () => {
    const { deps, client: stored } = await registered();
    const { challenge } = await pkce();
    const base = { client_id: stored.id, redirect_uri: REDIRECT_URI, scope: 'books:read', state: 'st', code_challenge: challenge };
    const read = await readRequest(deps, { ...base, response_type: 'code', code_challenge_method: 'S256' }, null);
    expect(read).toMatchObject({ ok: true, session: null, grant: null, request: { clientId: stored.id, scope: ['books:read'] } });
    const refused = await readRequest(deps, { ...base, response_type: 'token' }, null);
    expect(refused).toMatchObject({
      ok: false,
      to: { redirectUri: REDIRECT_URI, params: { error: 'unsupported_response_type', state: 'st' } },
    });
    await expect(readRequest(deps, { ...base, redirect_uri: 'https://attacker.example/cb' }, null)).rejects.toThrow(PageError);
  });

  it('approve: one batch records the grant (the union of scopes) and the code; a second answer to the request fails whole', async () => {
    const { deps, client: stored, user: owner } = await registered();
    const asked = request({ clientId: stored.id, scope: ['books:write'] });
    const signedIn = { idHash: 'h', user: owner, authTime: now(), amr: ['pwd'] };
    const answer = await approve(deps, { request: asked, session: signedIn, approvedBefore: 'books:read', consented: true }, null);
    expect(answer).toMatchObject({
      redirectUri: REDIRECT_URI,
      params: { code: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), state: 'st' },
    });
    const widened = await env.DB.prepare('select scope from grants where user_id = ? and client_id = ?').bind(owner.id, stored.id).first();
    expect(widened).toEqual({ scope: 'books:read books:write' });

    const again = approve(
      deps,
      { request: { ...asked, scope: ['openid'] }, session: signedIn, approvedBefore: 'books:read books:write', consented: true },
      null,
    );
    await expect(again).rejects.toThrow('This request was already answered');
    const unchanged = await env.DB.prepare('select scope from grants where user_id = ? and client_id = ?')
      .bind(owner.id, stored.id)
      .first();
    expect(unchanged).toEqual({ scope: 'books:read books:write' });
    const consents = await env.DB.prepare("select count(*) as n from audit_events where type = 'consent_granted' and client_id = ?")
      .bind(stored.id)
      .first();
    expect(consents).toEqual({ n: 1 });
  });
});

describe('sealForSignIn and a carried request (issue 11, finding 6)', () => {
  async function sealed(overrides: Partial<AuthorizationRequest> = {}) {
    const owner = await createUser();
    const { client_id: clientId } = await registerClient(await userToken(owner));
    const deps = createDeps(env);
    const pending = request({ id: randomSecret(), clientId, ...overrides });
    return { deps, pending, held: await sealForSignIn(deps, pending) };
  }

  it('seals a request that readRequest takes back, whole, from its carried copy and from nowhere else', async () => {
    const { deps, pending, held } = await sealed({ signInAsked: { previousSession: null } });
    if (!held.ok) throw new Error('not sealed');
    expect(await env.KV.get(`authreq:${pending.id}`)).toBeNull();
    const read = await readRequest(deps, { request_id: pending.id }, null, (id) => (id === pending.id ? held.sealed : undefined));
    expect(read).toMatchObject({ ok: true, carried: true, request: pending });
    await expect(readRequest(deps, { request_id: pending.id }, null)).rejects.toThrow('This sign-in request has expired');
  });

  it('refuses a carried copy that is altered or belongs to another request id', async () => {
    const { deps, pending, held } = await sealed();
    if (!held.ok) throw new Error('not sealed');
    await expect(readRequest(deps, { request_id: randomSecret() }, null, () => held.sealed)).rejects.toThrow(
      'This sign-in request has expired',
    );
    const altered = `${held.sealed.slice(0, -2)}${held.sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(readRequest(deps, { request_id: pending.id }, null, () => altered)).rejects.toThrow('This sign-in request has expired');
  });

  it('answers a request too large for a cookie with invalid_request for the client, and keeps nothing', async () => {
    const { pending, held } = await sealed({
      state: 's'.repeat(1000),
      nonce: 'n'.repeat(1000),
      redirectUri: `${REDIRECT_URI}?${'q'.repeat(1500)}`,
    });
    expect(held).toMatchObject({ ok: false, to: { params: { error: 'invalid_request', state: pending.state } } });
    expect(await env.KV.get(`authreq:${pending.id}`)).toBeNull();
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
