import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { authorizeUrl, Browser, call, expectLabelledField, formAction, hiddenFields, ISSUER, json, pkce, redeem, unique } from './helpers';

describe('the tutorial flow, end to end through the real pages', () => {
  it('signs up, registers a client, authorizes, consents, trades the code and calls the books API', async () => {
    const browser = new Browser();
    const email = `${unique('ada')}@example.com`;
    const password = 'a long enough password';

    // 1. Sign up on /signup (labels per SPEC).
    const signupPage = await browser.get('/signup');
    const signupHtml = await signupPage.text();
    for (const label of ['Name', 'Email', 'Password']) expectLabelledField(signupHtml, label);
    expect(signupHtml).toContain('>Create account</button>');
    const signedUp = await browser.post(formAction(signupHtml), { ...hiddenFields(signupHtml), name: 'Ada', email, password });
    expect(signedUp.status).toBe(303);

    // 2. The user API token, and a client registered with it (RFC 7591).
    const login = await json('/api/login', { email, password });
    expect(login.status).toBe(200);
    const { access_token: userToken } = (await login.json()) as { access_token: string };
    const registered = await json(
      '/oauth2/register',
      { client_name: 'Reading List', redirect_uris: ['https://reading.example/cb'], scope: 'openid profile books:read books:write' },
      { headers: { Authorization: `Bearer ${userToken}` } },
    );
    expect(registered.status).toBe(201);
    const client = (await registered.json()) as { client_id: string; client_secret: string };

    // 3. The app sends the user (signed out in a fresh browser) to the authorization endpoint.
    const person = new Browser();
    const { verifier, challenge } = await pkce();
    const authorize = authorizeUrl({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: 'https://reading.example/cb',
      scope: 'openid profile books:read books:write',
      state: 'xyz-state',
      nonce: 'n-0S6_WzA2Mj',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const toLogin = await person.get(authorize);
    expect(toLogin.status).toBe(302);
    const loginPath = toLogin.headers.get('Location')!;
    expect(loginPath).toMatch(/^\/login\?return_to=/);

    // 4. Sign in on /login; come back to the authorization endpoint.
    const loginHtml = await (await person.get(loginPath)).text();
    for (const label of ['Email', 'Password']) expectLabelledField(loginHtml, label);
    expect(loginHtml).toContain('>Sign in</button>');
    const signedIn = await person.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email, password });
    expect(signedIn.status).toBe(303);
    const back = signedIn.headers.get('Location')!;
    expect(back).toMatch(/^\/oauth2\/authorize\?request_id=/);

    // 5. The consent page names the client, its redirect host and each scope in words.
    const consent = await person.get(back);
    expect(consent.status).toBe(200);
    const consentHtml = await consent.text();
    expect(consentHtml).toContain('Reading List');
    expect(consentHtml).toContain('reading.example');
    expect(consentHtml).toContain('Read the books in your library');
    expect(consentHtml).toContain('See your name');
    expect(consentHtml).toContain('>Allow</button>');
    expect(consentHtml).toContain('>Deny</button>');

    // 6. Allow: 303 back to the client with code, state and iss (RFC 9207).
    const allowed = await person.post(formAction(consentHtml), { ...hiddenFields(consentHtml), decision: 'allow' });
    expect(allowed.status).toBe(303);
    const callback = new URL(allowed.headers.get('Location')!);
    expect(callback.origin + callback.pathname).toBe('https://reading.example/cb');
    expect(callback.searchParams.get('state')).toBe('xyz-state');
    expect(callback.searchParams.get('iss')).toBe(ISSUER);
    const code = callback.searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // 7. Trade the code for tokens.
    const tokenResponse = await redeem(
      {
        client_id: client.client_id,
        client_secret: client.client_secret,
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      { code, verifier, redirectUri: 'https://reading.example/cb', state: 'xyz-state', location: callback },
    );
    expect(tokenResponse.status).toBe(200);
    expect(tokenResponse.headers.get('Cache-Control')).toBe('no-store');
    const tokens = (await tokenResponse.json()) as Record<string, unknown>;
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'openid profile books:read books:write' });

    // The ID token verifies against the published JWKS.
    const jwks = createLocalJWKSet(await (await call('/.well-known/jwks.json')).json());
    const { payload } = await jwtVerify(tokens.id_token as string, jwks, { issuer: ISSUER, audience: client.client_id });
    expect(payload.nonce).toBe('n-0S6_WzA2Mj');

    // 8. Call the books API: empty, add one, read it back.
    const auth = { Authorization: `Bearer ${tokens.access_token as string}` };
    const empty = await call('/api/books', { headers: auth });
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual([]);
    const added = await json('/api/books', { title: 'Middlemarch', author: 'George Eliot' }, { headers: auth });
    expect(added.status).toBe(201);
    expect(await added.json()).toMatchObject({ title: 'Middlemarch', author: 'George Eliot' });
    const list = await call('/api/books', { headers: auth });
    expect(await list.json()).toMatchObject([{ title: 'Middlemarch', author: 'George Eliot' }]);
  });
});
