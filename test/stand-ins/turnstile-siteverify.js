// A test stand-in for the Internet, so tests exercise the Worker's real
// outbound calls with no network. vitest.config.ts makes this Worker the
// `outboundService` of the Worker under test: every fetch() it makes arrives
// here. It plays two sites, and answers anything else 599, so a new outbound
// call fails in tests instead of leaving the machine:
//  - Cloudflare Turnstile's siteverify endpoint (src/services/turnstile.ts),
//    answered like the real endpoint answers (the same request fields and
//    response shape, tokens single-use);
//  - https://client.example, a made-up client publishing client ID metadata
//    documents (src/services/client-metadata-documents.ts): good ones and
//    hostile ones, scripted by path (see DOCUMENTS below).
//
// Tokens are scripted by their prefix:
//   pass-…          a solved challenge: success, hostname "localhost", action "login"
//   fail-…          success false, "invalid-input-response"
//   elsewhere-…     success, but solved on another hostname
//   other-action-…  success, but for another widget action
//   down-…          the endpoint is unreachable (503, not JSON)
//   garbage-…       200 with a body that is not JSON
// A token is accepted once; again, it is "timeout-or-duplicate".

const SITEVERIFY = 'https://challenges.cloudflare.com/turnstile/v0/siteverify';
/** The secret key the tests configure (TURNSTILE_SECRET_KEY). */
const SECRET = 'standin-turnstile-secret';

const seen = new Set();

function verdict(success, errorCodes, extra = {}) {
  return Response.json({ success, 'error-codes': errorCodes, ...extra });
}

async function fields(request) {
  if ((request.headers.get('Content-Type') ?? '').startsWith('application/json')) return request.json();
  return Object.fromEntries(await request.formData());
}

async function siteverify(request) {
  const { secret, response: token } = await fields(request);
  if (secret !== SECRET) return verdict(false, ['invalid-input-secret']);
  if (typeof token !== 'string' || token === '') return verdict(false, ['missing-input-response']);
  if (token.startsWith('down-')) return new Response('<html>503 Service Unavailable</html>', { status: 503 });
  if (token.startsWith('garbage-')) return new Response('not json', { status: 200 });
  if (seen.has(token)) return verdict(false, ['timeout-or-duplicate']);
  seen.add(token);
  const solved = { challenge_ts: new Date().toISOString(), hostname: 'localhost', action: 'login', cdata: '' };
  if (token.startsWith('pass-')) return verdict(true, [], solved);
  if (token.startsWith('elsewhere-')) return verdict(true, [], { ...solved, hostname: 'evil.example' });
  if (token.startsWith('other-action-')) return verdict(true, [], { ...solved, action: 'signup' });
  return verdict(false, ['invalid-input-response']);
}

// ---- https://client.example: client ID metadata documents ----
//
// GET https://client.example/<kind>/<anything> serves a document whose
// client_id is the URL asked for (so every test picks its own client id),
// unless the kind says otherwise:
//   good           redirect_uris https://app.client.example/callback and
//                  http://127.0.0.1/callback; name "Reading Helper";
//                  Cache-Control: max-age=600
//   google         the same, named "Google" (a phishing name)
//   expires        no Cache-Control; Expires two hours after Date
//   no-store       Cache-Control: no-store
//   long-lived     Cache-Control: max-age=31536000 (a year)
//   changing       no-store, and client_name "Version <n>" for the n-th fetch
//   redirect       302 to the good document of the same id
//   oversize       6 KB of JSON, with Content-Length
//   oversize-stream 6 KB of JSON, streamed without Content-Length
//   slow           headers only after 5 seconds
//   slow-body      headers at once, the body after 5 seconds
//   mismatch       client_id names another document
//   secret         carries a client_secret
//   confidential   token_endpoint_auth_method client_secret_basic
//   not-json       Content-Type text/html
//   hostile-<what> one redirect URI of the kind named: javascript, data,
//                  fragment, http (not loopback), userinfo
// Anything else there is 404. Every request to the host is logged:
// GET https://client.example/__log answers the URLs fetched so far (the
// test's own calls to __log excepted).

const CLIENT_HOST = 'https://client.example';
const HOSTILE = {
  javascript: 'javascript:alert(document.cookie)',
  data: 'data:text/html,<script>alert(1)</script>',
  fragment: 'https://app.client.example/callback#frag',
  http: 'http://app.client.example/callback',
  userinfo: 'https://user:pass@app.client.example/callback',
};
const log = [];
const fetchesOf = new Map();

function documentFor(url, overrides = {}) {
  return {
    client_id: url,
    client_name: 'Reading Helper',
    client_uri: 'https://client.example',
    redirect_uris: ['https://app.client.example/callback', 'http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...overrides,
  };
}

function jsonDocument(body, headers = { 'Cache-Control': 'max-age=600' }) {
  return new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json', ...headers } });
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `text` as a body streamed in 1 KB chunks, with no Content-Length (a size limit must count as it reads). */
function chunkedBody(text) {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 1024) controller.enqueue(bytes.slice(i, i + 1024));
      controller.close();
    },
  });
}

/** `text` as a body whose first 10 bytes come at once and the rest 5 s later (a time limit must cover the body too). */
function stalledBody(text) {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    async start(controller) {
      controller.enqueue(bytes.slice(0, 10));
      await wait(5000);
      controller.enqueue(bytes.slice(10));
      controller.close();
    },
  });
}

function clientDocument(request) {
  const url = new URL(request.url);
  const href = `${url.origin}${url.pathname}`;
  if (url.pathname === '/__log') return Response.json(log);
  log.push(href);
  const count = (fetchesOf.get(href) ?? 0) + 1;
  fetchesOf.set(href, count);
  const kind = url.pathname.split('/')[1] ?? '';
  switch (kind) {
    case 'good':
      return jsonDocument(documentFor(href));
    case 'google':
      return jsonDocument(documentFor(href, { client_name: 'Google' }));
    case 'expires': {
      const date = Date.now();
      return jsonDocument(documentFor(href), {
        Date: new Date(date).toUTCString(),
        Expires: new Date(date + 2 * 60 * 60 * 1000).toUTCString(),
      });
    }
    case 'no-store':
      return jsonDocument(documentFor(href), { 'Cache-Control': 'no-store' });
    case 'long-lived':
      return jsonDocument(documentFor(href), { 'Cache-Control': 'public, max-age=31536000' });
    case 'changing':
      return jsonDocument(documentFor(href, { client_name: `Version ${count}` }), { 'Cache-Control': 'no-store' });
    case 'redirect':
      return new Response(null, { status: 302, headers: { Location: href.replace('/redirect/', '/good/') } });
    case 'oversize':
      return jsonDocument(documentFor(href, { padding: 'x'.repeat(6 * 1024) }));
    case 'oversize-stream':
      return new Response(chunkedBody(JSON.stringify(documentFor(href, { padding: 'x'.repeat(6 * 1024) }))), {
        headers: { 'Content-Type': 'application/json' },
      });
    case 'slow':
      return wait(5000).then(() => jsonDocument(documentFor(href)));
    case 'slow-body':
      return new Response(stalledBody(JSON.stringify(documentFor(href))), { headers: { 'Content-Type': 'application/json' } });
    case 'mismatch':
      return jsonDocument(documentFor(`${CLIENT_HOST}/good/someone-else`));
    case 'secret':
      return jsonDocument(documentFor(href, { client_secret: 'shared-secret', client_secret_expires_at: 0 }));
    case 'confidential':
      return jsonDocument(documentFor(href, { token_endpoint_auth_method: 'client_secret_basic' }));
    case 'not-json':
      return new Response(`<html>${JSON.stringify(documentFor(href))}</html>`, { headers: { 'Content-Type': 'text/html' } });
    default: {
      const hostile = HOSTILE[kind.replace(/^hostile-/, '')];
      if (kind.startsWith('hostile-') && hostile) return jsonDocument(documentFor(href, { redirect_uris: [hostile] }));
      return new Response('not found', { status: 404 });
    }
  }
}

// ---- https://api.resend.com: an HTTP mail API (src/services/mailer.ts) ----
//
// POST /emails as Resend answers it: the key the tests configure
// (MAIL_API_KEY) as a bearer token, else 401; a JSON body with from, to (a
// list), subject, text and html, else 422; a recipient starting "fail-" gets
// a 500. Accepted mails are kept: GET /__sent answers them (tests only).
const MAIL_API = 'https://api.resend.com';
const MAIL_API_KEY = 'standin-mail-key';
const sentMail = [];

async function mailApi(request) {
  const url = new URL(request.url);
  if (request.method === 'GET' && url.pathname === '/__sent') return Response.json(sentMail);
  if (request.method !== 'POST' || url.pathname !== '/emails') return Response.json({ name: 'not_found' }, { status: 404 });
  if (request.headers.get('Authorization') !== `Bearer ${MAIL_API_KEY}`) {
    return Response.json({ statusCode: 401, name: 'missing_api_key', message: 'API key is invalid' }, { status: 401 });
  }
  let mail;
  try {
    mail = await request.json();
  } catch {
    return Response.json({ statusCode: 422, name: 'validation_error', message: 'body is not JSON' }, { status: 422 });
  }
  const strings = ['from', 'subject', 'text', 'html'].every((field) => typeof mail?.[field] === 'string' && mail[field] !== '');
  if (!strings || !Array.isArray(mail.to) || mail.to.length === 0) {
    return Response.json({ statusCode: 422, name: 'validation_error', message: 'missing fields' }, { status: 422 });
  }
  if (mail.to.some((to) => String(to).startsWith('fail-'))) {
    return Response.json({ statusCode: 500, name: 'application_error', message: 'internal error' }, { status: 500 });
  }
  const id = crypto.randomUUID();
  sentMail.push({ id, ...mail });
  return Response.json({ id });
}

// ---- https://client.example/jwks/<name>: private_key_jwt clients' JWK Sets ----
//
// A test publishes a set with PUT https://client.example/jwks/<name> and the
// body {"jwks": {...}, "headers": {...}} (headers optional; Cache-Control
// defaults to max-age=600); a GET serves it as application/jwk-set+json and
// is logged like the documents (GET https://client.example/__log). An
// unpublished name is 404. The body may also say "serve", for a hostile host
// (the outbound limits of src/lib/guarded-fetch.ts):
//   redirect         302 to the same set under <name>-moved (published too)
//   oversize         the set followed by 20 KB of spaces (valid JSON, small
//                    once parsed), with Content-Length
//   oversize-stream  the same, streamed in 1 KB pieces without Content-Length
//   slow             headers only after 5 seconds
//   slow-body        headers at once, the body's end after 5 seconds
//   html             the set as Content-Type text/html

const jwksSets = new Map();

async function jwksDocument(request) {
  const url = new URL(request.url);
  const href = `${url.origin}${url.pathname}`;
  if (request.method === 'PUT') {
    jwksSets.set(href, await request.json());
    return new Response(null, { status: 204 });
  }
  log.push(href);
  const published = jwksSets.get(href);
  if (!published) return new Response('not found', { status: 404 });
  const headers = { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'max-age=600', ...published.headers };
  const text = JSON.stringify(published.jwks);
  switch (published.serve) {
    case 'redirect':
      jwksSets.set(`${href}-moved`, { ...published, serve: undefined });
      return new Response(null, { status: 302, headers: { Location: `${href}-moved` } });
    case 'oversize':
      return new Response(text + ' '.repeat(20 * 1024), { headers });
    case 'oversize-stream':
      return new Response(chunkedBody(text + ' '.repeat(20 * 1024)), { headers });
    case 'slow':
      return wait(5000).then(() => new Response(text, { headers }));
    case 'slow-body':
      return new Response(stalledBody(text), { headers });
    case 'html':
      return new Response(text, { headers: { ...headers, 'Content-Type': 'text/html' } });
    default:
      return new Response(text, { headers });
  }
}

/** The hosts the upstream identity provider stand-in plays (test/stand-ins/upstream-provider.js, bound as UPSTREAM). */
const UPSTREAM_HOSTS = ['https://idp.example', 'https://idp2.example', 'https://github.com', 'https://api.github.com'];

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.origin === MAIL_API) return mailApi(request);
    if (request.method === 'POST' && `${url.origin}${url.pathname}` === SITEVERIFY) return siteverify(request);
    if (url.origin === CLIENT_HOST && url.pathname.startsWith('/jwks/')) return jwksDocument(request);
    if (request.method === 'GET' && url.origin === CLIENT_HOST) return clientDocument(request);
    if (UPSTREAM_HOSTS.includes(url.origin)) return env.UPSTREAM.fetch(request);
    // Tests reach no network: any other outbound call fails loudly here.
    return new Response(`no network in tests: unexpected outbound ${request.method} ${url.origin}${url.pathname}`, { status: 599 });
  },
};
