// A test stand-in for upstream identity providers (issue 17), a Worker of its
// own that the stand-in Internet (turnstile-siteverify.js) hands every
// request to its hosts, through the UPSTREAM service binding. Minimal but real: discovery, a JWKS, an authorization endpoint, a
// token endpoint that checks the client's secret, the code's redirect URI and
// PKCE (S256) and issues RS256 ID tokens signed with a key made at start, and
// userinfo. Two OpenID providers, so mix-up between them can be tested:
//   https://idp.example    client tollgate-test / upstream-secret
//   https://idp2.example   client tollgate-test / upstream-secret-2
// and GitHub (OAuth 2.0 + REST API):
//   https://github.com/login/oauth/authorize, /login/oauth/access_token
//   https://api.github.com/user, /user/emails   client gh-test / github-secret
//
// The test plays the user: it calls the authorization URL Tollgate sent the
// browser to, adding
//   user=<JSON>    who signs in: OIDC claims (sub, email, email_verified,
//                  name), or for GitHub {id, login, name, emails: [...]}
//   tamper=<JSON>  (optional) what the ID token says wrongly: any claim to
//                  override (aud, iss, nonce, exp...; null leaves it out), or "sign": "other-key"
//                  to sign it with a key not in the JWKS; "iss_param": a value
//                  for the response's `iss` (RFC 9207), or null to omit it
// and gets a 302 to the redirect URI with code, state and iss. A code is
// single use.
//
// For tests to see where a code went: GET <origin>/test/presented?code=<code>
// answers {"presented": true} once that code was sent to <origin>'s token
// endpoint (even one refused there), so a test of mix-up (RFC 9207) can check
// that a code never reached a provider it was not issued by.

const CLIENTS = {
  'https://idp.example': { id: 'tollgate-test', secret: 'upstream-secret' },
  'https://idp2.example': { id: 'tollgate-test', secret: 'upstream-secret-2' },
  'https://github.com': { id: 'gh-test', secret: 'github-secret' },
};

const codes = new Map();
const accessTokens = new Map();
const keys = new Map();
/** Per origin, every code sent to its token endpoint. */
const presented = new Map();

function b64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const encode = (value) => b64url(new TextEncoder().encode(JSON.stringify(value)));

async function keyOf(name) {
  let key = keys.get(name);
  if (!key) {
    const pair = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    key = { privateKey: pair.privateKey, jwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid: `${name}-1`, alg: 'RS256', use: 'sig' } };
    keys.set(name, key);
  }
  return key;
}

async function signJwt(claims, keyName) {
  const key = await keyOf(keyName);
  const input = `${encode({ alg: 'RS256', typ: 'JWT', kid: key.jwk.kid })}.${encode(claims)}`;
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64url(signature)}`;
}

function randomToken() {
  return b64url(crypto.getRandomValues(new Uint8Array(24)));
}

function oauthError(error, status = 400) {
  return Response.json({ error }, { status });
}

/** Client authentication at the token endpoint: client_secret_basic or client_secret_post. */
function authenticatedClient(request, form, origin) {
  const expected = CLIENTS[origin];
  const header = request.headers.get('Authorization');
  let id = form.get('client_id');
  let secret = form.get('client_secret');
  if (header?.startsWith('Basic ')) {
    const [user, pass] = atob(header.slice(6)).split(':');
    id = decodeURIComponent(user);
    secret = decodeURIComponent(pass);
  }
  return id === expected.id && secret === expected.secret ? id : null;
}

async function s256(verifier) {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

function authorize(url, origin) {
  const params = url.searchParams;
  const redirect = new URL(params.get('redirect_uri'));
  if (params.get('client_id') !== CLIENTS[origin].id) return new Response('unknown client', { status: 400 });
  const code = randomToken();
  const tamper = JSON.parse(params.get('tamper') ?? '{}');
  codes.set(code, {
    origin,
    redirectUri: params.get('redirect_uri'),
    challenge: params.get('code_challenge'),
    nonce: params.get('nonce'),
    user: JSON.parse(params.get('user') ?? '{}'),
    tamper,
  });
  redirect.searchParams.set('code', code);
  if (params.get('state') !== null) redirect.searchParams.set('state', params.get('state'));
  const iss = 'iss_param' in tamper ? tamper.iss_param : origin === 'https://github.com' ? null : origin;
  if (iss !== null) redirect.searchParams.set('iss', iss);
  return new Response(null, { status: 302, headers: { Location: redirect.href } });
}

async function token(request, origin) {
  const form = new URLSearchParams(await request.text());
  if (!presented.has(origin)) presented.set(origin, new Set());
  presented.get(origin).add(form.get('code'));
  const clientId = authenticatedClient(request, form, origin);
  if (!clientId) return oauthError('invalid_client', 401);
  const grant = codes.get(form.get('code'));
  codes.delete(form.get('code'));
  if (!grant || grant.origin !== origin) return oauthError('invalid_grant');
  if (form.get('redirect_uri') !== grant.redirectUri) return oauthError('invalid_grant');
  if (!grant.challenge || (await s256(form.get('code_verifier') ?? '')) !== grant.challenge) return oauthError('invalid_grant');
  const accessToken = randomToken();
  accessTokens.set(accessToken, grant.user);
  if (origin === 'https://github.com') {
    // GitHub answers 200 with token_type "bearer" (lower case).
    return Response.json({ access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
  }
  const { sign, iss_param: _ignored, ...overrides } = grant.tamper;
  const now = Math.floor(Date.now() / 1000);
  const { sub, email, email_verified, name } = grant.user;
  const claims = {
    iss: origin,
    sub,
    aud: clientId,
    iat: now,
    exp: now + 300,
    nonce: grant.nonce,
    email,
    email_verified,
    name,
    ...overrides,
  };
  // A tampered claim set to null is left out.
  for (const [name, value] of Object.entries(claims)) if (value === null) delete claims[name];
  const idToken = await signJwt(claims, sign === 'other-key' ? `${origin}-other` : origin);
  return Response.json({ access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken });
}

function bearerUser(request) {
  const header = request.headers.get('Authorization') ?? '';
  return accessTokens.get(header.replace(/^Bearer /i, ''));
}

async function upstreamProvider(request) {
  const url = new URL(request.url);
  const { origin, pathname } = url;
  if (origin === 'https://api.github.com') {
    const user = bearerUser(request);
    if (!user) return Response.json({ message: 'Bad credentials' }, { status: 401 });
    if (pathname === '/user') return Response.json({ id: user.id, login: user.login, name: user.name ?? null });
    if (pathname === '/user/emails') return Response.json(user.emails ?? []);
    return new Response('not found', { status: 404 });
  }
  if (origin === 'https://github.com') {
    if (request.method === 'GET' && pathname === '/login/oauth/authorize') return authorize(url, origin);
    if (request.method === 'POST' && pathname === '/login/oauth/access_token') return token(request, origin);
    return new Response('not found', { status: 404 });
  }
  switch (`${request.method} ${pathname}`) {
    case 'GET /.well-known/openid-configuration':
      return Response.json({
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        userinfo_endpoint: `${origin}/userinfo`,
        jwks_uri: `${origin}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256'],
        // RFC 9207 §3: this provider always sends `iss` with its answers.
        authorization_response_iss_parameter_supported: true,
      });
    case 'GET /test/presented':
      return Response.json({ presented: presented.get(origin)?.has(url.searchParams.get('code')) ?? false });
    case 'GET /jwks':
      return Response.json({ keys: [(await keyOf(origin)).jwk] });
    case 'GET /authorize':
      return authorize(url, origin);
    case 'POST /token':
      return token(request, origin);
    case 'GET /userinfo': {
      const user = bearerUser(request);
      if (!user) return oauthError('invalid_token', 401);
      return Response.json({ sub: user.sub, email: user.email, email_verified: user.email_verified, name: user.name });
    }
    default:
      return new Response('not found', { status: 404 });
  }
}

export default { fetch: upstreamProvider };
