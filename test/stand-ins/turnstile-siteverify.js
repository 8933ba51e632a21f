// A stand-in for Cloudflare Turnstile's siteverify endpoint, so tests can
// exercise the real outbound call (src/services/turnstile.ts) with no
// network. vitest.config.ts makes this Worker the `outboundService` of the
// Worker under test: every fetch() it makes arrives here. Requests for
// siteverify are answered like the real endpoint answers them (the same
// request fields and response shape, tokens single-use); anything else is
// answered 599, so a new outbound call fails in tests instead of leaving the machine.
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

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === 'POST' && `${url.origin}${url.pathname}` === SITEVERIFY) return siteverify(request);
    // Tests reach no network: any other outbound call fails loudly here.
    return new Response(`no network in tests: unexpected outbound ${request.method} ${url.origin}${url.pathname}`, { status: 599 });
  },
};
