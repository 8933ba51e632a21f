// `npm run soak`: mixed load from many simulated users against the real
// Worker (`npm start`'s script: wrangler dev on a free 127.0.0.1 port, with
// fresh local D1 and KV in a temporary directory), then invariants checked
// from what D1 holds once the server has stopped (issue 16, item 6).
//
// Each simulated user signs in on the real pages (fetch and a cookie jar, no
// browser), runs authorization code flows with PKCE through the consent page,
// refreshes, reads and writes books with bearer tokens, revokes access and
// refresh tokens, deletes clients and registers new ones, and now and then
// spends one refresh token twice at once. The users run concurrently; each
// one's steps are sequential, so the script knows what each answer must be.
//
// Checked: no 5xx and no network failure; every refresh token spent at most
// once (over HTTP: never two successes for one token; in D1: no token with two
// successors, no spent token whose successor is missing); no token accepted by
// a request sent after its revocation was answered (access token revoked, its
// grant revoked, its family's reuse detected, its client deleted); no live
// token refused; every book written (201) is read back over HTTP at the end
// and is in D1, and nothing else is; no orphan rows (grants without clients,
// tokens and codes without grants, books and sessions without users); the
// audit events by type are exactly the actions taken. Any broken invariant:
// a message naming it, and exit code 1.
//
// Settings: SOAK_SECONDS (default 180) how long the load runs; SOAK_USERS
// (default 24) how many users; SOAK_MAX_REQUESTS (default 100000) a bound on
// requests. `npm test` runs SOAK_SECONDS=60.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const USERS = Number(process.env.SOAK_USERS ?? 24);
const MAX_REQUESTS = Number(process.env.SOAK_MAX_REQUESTS ?? 100_000);
const START_DEADLINE_MS = 120_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Renew a user API token (15 minutes, USER_TOKEN_TTL) after this long. */
const API_TOKEN_RENEW_MS = 10 * 60 * 1000;
/** Use an access token (10 minutes, ACCESS_TOKEN_TTL) for a live call only this long after it was issued: a long soak refreshes first. */
const ACCESS_TOKEN_USE_MS = 8 * 60 * 1000;
const SCOPE = 'openid books:read books:write offline_access';
const REDIRECT_URI = 'http://127.0.0.1:9/soak/callback';

for (const [name, value] of Object.entries({ SOAK_SECONDS, USERS, MAX_REQUESTS })) {
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`soak: ${name} must be a positive whole number`);
    process.exit(2);
  }
}

// The state directory must be chosen before local.mjs reads TOLLGATE_STATE_DIR.
const stateDir = mkdtempSync(path.join(tmpdir(), 'tollgate-soak-'));
process.env.TOLLGATE_STATE_DIR = stateDir;
const { importTypeScript, localBindings, startTollgate, wrangler } = await import('./local.mjs');

// ---------------------------------------------------------------- what happened

/** Every broken invariant, in words: the first message of each kind (its numbers aside), and how many times it happened. */
const failures = new Map();
const fail = (message) => {
  const kind = message.replace(/\d+/g, '#');
  const seen = failures.get(kind);
  if (seen) seen.times += 1;
  else failures.set(kind, { message, times: 1 });
};
/** Audit events the actions taken must have written, by type. */
const expectedAudit = { sign_in: 0, consent_granted: 0, grant_revoked: 0, refresh_reuse: 0, client_created: 0, client_deleted: 0 };
const counts = { requests: 0, byStep: {} };
/** Access token → when its revocation (of it, its grant or its client) was answered, ms. */
const revokedAt = new Map();
/** Access token → when it was issued, ms. */
const issuedAt = new Map();
function issued(token) {
  issuedAt.set(token, Date.now());
  return token;
}

let baseUrl = '';
let stopLoad = false;

/**
 * wrangler dev's own answer when its proxy loses a request on the way to the
 * Worker: a pooled proxy-to-Worker connection idle for about 5 s meets both
 * ends' 5 s keep-alive timeouts at once, and a POST written into it is
 * dropped before the Worker reads it (cloudflare/workers-sdk#14641; the
 * Worker never restarted). Tollgate never answers with this text. Such a
 * request is sent once more, counted, and reported; more than
 * DEV_PROXY_DROPS_ALLOWED of them fail the soak.
 */
const DEV_PROXY_DROP = 'Your worker restarted mid-request.';
const DEV_PROXY_DROPS_ALLOWED = 3;
let devProxyDrops = 0;

/** One HTTP request to the Worker; any 5xx or network failure is a failure of the soak. */
async function http(method, pathname, options = {}) {
  const answer = await httpOnce(method, pathname, options);
  if (answer.status !== 503 || !answer.text.startsWith(DEV_PROXY_DROP)) return answer;
  devProxyDrops += 1;
  if (devProxyDrops > DEV_PROXY_DROPS_ALLOWED) {
    fail(
      `${method} ${pathname.split('?')[0]}: wrangler dev's proxy dropped more than ${DEV_PROXY_DROPS_ALLOWED} requests (${answer.text.slice(0, 80)})`,
    );
    return answer;
  }
  return httpOnce(method, pathname, options);
}

async function httpOnce(method, pathname, { headers = {}, body, jar } = {}) {
  counts.requests += 1;
  if (counts.requests >= MAX_REQUESTS) stopLoad = true;
  const allHeaders = { ...headers };
  if (jar && jar.size > 0) allHeaders.Cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(`${baseUrl}${pathname}`, {
      method,
      headers: allHeaders,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    fail(`${method} ${pathname.split('?')[0]}: no answer (${error.message})`);
    return { status: 0, sentAt, answeredAt: Date.now(), text: '', headers: new Headers() };
  }
  const text = await response.text();
  const answeredAt = Date.now();
  const dropped = response.status === 503 && text.startsWith(DEV_PROXY_DROP);
  if (response.status >= 500 && !dropped) fail(`${method} ${pathname.split('?')[0]}: ${response.status} ${text.slice(0, 200)}`);
  if (jar) {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0\b/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
  }
  return { status: response.status, sentAt, answeredAt, text, headers: response.headers, json: () => JSON.parse(text) };
}

const formBody = (fields) => new URLSearchParams(fields).toString();
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const basic = (client) => `Basic ${btoa(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`)}`;
const hiddenFields = (html) =>
  Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [
      m[1],
      m[2].replace(/&amp;/g, '&').replace(/&quot;/g, '"'),
    ]),
  );
const formAction = (html) => /<form method="post" action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
const random = (n) => Math.floor(Math.random() * n);
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

async function pkce() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  return { verifier, challenge };
}

// ---------------------------------------------------------------- a simulated user

/**
 * One user's view of their state: what they hold and what they expect.
 * `grants` are per client (a user has one grant per client: every code flow
 * for it issues under the same grant), each with its access tokens and its
 * refresh token families' newest tokens.
 */
class User {
  constructor({ email, password }) {
    this.email = email;
    this.password = password;
    this.jar = new Map();
    this.apiToken = null;
    this.apiTokenAt = 0;
    this.clients = [];
    /** client id → { accessTokens: string[], refreshTokens: string[] } while the grant stands. */
    this.grants = new Map();
    this.booksWritten = new Set();
  }

  /** A sign-in on the real /login page: 303 and a session cookie. */
  async signIn() {
    this.jar.clear();
    const page = await http('GET', '/login', { jar: this.jar });
    if (page.status !== 200) return fail(`GET /login: ${page.status}`);
    const answer = await http('POST', formAction(page.text) ?? '/login', {
      headers: FORM,
      jar: this.jar,
      body: formBody({ ...hiddenFields(page.text), email: this.email, password: this.password }),
    });
    if (answer.status !== 303) return fail(`sign-in: ${answer.status} ${answer.text.slice(0, 200)}`);
    expectedAudit.sign_in += 1;
  }

  /** A user API token from /api/login (audited as a sign-in too). */
  async apiLogin() {
    const answer = await http('POST', '/api/login', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: this.email, password: this.password }),
    });
    if (answer.status !== 200) return fail(`/api/login: ${answer.status} ${answer.text.slice(0, 200)}`);
    expectedAudit.sign_in += 1;
    this.apiToken = answer.json().access_token;
    this.apiTokenAt = Date.now();
  }

  async ensureApiToken() {
    if (!this.apiToken || Date.now() - this.apiTokenAt > API_TOKEN_RENEW_MS) await this.apiLogin();
  }

  async registerClient() {
    await this.ensureApiToken();
    const answer = await http('POST', '/oauth2/register', {
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.apiToken}` },
      body: JSON.stringify({
        client_name: 'Soak client',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: SCOPE,
      }),
    });
    if (answer.status !== 201) return fail(`register: ${answer.status} ${answer.text.slice(0, 200)}`);
    expectedAudit.client_created += 1;
    const body = answer.json();
    this.clients.push({ id: body.client_id, secret: body.client_secret });
  }

  /** GET /oauth2/authorize with the session; the consent page when asked; the code at the token endpoint. */
  async codeFlow() {
    if (this.clients.length === 0) await this.registerClient();
    const client = this.clients[random(this.clients.length)];
    if (!client) return;
    if (!this.jar.has('tg_session')) await this.signIn(); // the session cookie on an http issuer (helpers/cookies.ts)
    const { verifier, challenge } = await pkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.id,
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      state: b64url(crypto.getRandomValues(new Uint8Array(8))),
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    let answer = await http('GET', `/oauth2/authorize?${query}`, { jar: this.jar });
    if (answer.status === 302 && new URL(answer.headers.get('Location'), baseUrl).pathname === '/login') {
      // The session ended: sign in again, then start over.
      await this.signIn();
      answer = await http('GET', `/oauth2/authorize?${query}`, { jar: this.jar });
    }
    if (answer.status === 200) {
      // The consent page: the grant does not stand (first flow, or it was revoked).
      const decision = await http('POST', formAction(answer.text) ?? '/oauth2/authorize', {
        headers: FORM,
        jar: this.jar,
        body: formBody({ ...hiddenFields(answer.text), decision: 'allow' }),
      });
      if (decision.status !== 303) return fail(`consent: ${decision.status} ${decision.text.slice(0, 200)}`);
      expectedAudit.consent_granted += 1;
      answer = decision;
    } else if (answer.status !== 302) {
      return fail(`authorize: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    const location = new URL(answer.headers.get('Location'), baseUrl);
    const code = location.searchParams.get('code');
    if (!code) return fail(`authorize: no code in ${location.origin}${location.pathname} (${location.searchParams.get('error')})`);
    const token = await http('POST', '/oauth2/token', {
      headers: { ...FORM, Authorization: basic(client) },
      body: formBody({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    if (token.status !== 200) return fail(`code redemption: ${token.status} ${token.text.slice(0, 200)}`);
    const { access_token, refresh_token } = token.json();
    const grant = this.grants.get(client.id) ?? { accessTokens: [], refreshTokens: [] };
    grant.accessTokens.push(issued(access_token));
    if (refresh_token) grant.refreshTokens.push(refresh_token);
    else fail('code redemption: no refresh token for offline_access');
    this.grants.set(client.id, grant);
  }

  /** A standing grant and its client, or null. */
  someGrant() {
    const live = [...this.grants.entries()].filter(([, grant]) => grant.refreshTokens.length > 0 || grant.accessTokens.length > 0);
    if (live.length === 0) return null;
    const [clientId, grant] = live[random(live.length)];
    return { client: this.clients.find((c) => c.id === clientId), grant, clientId };
  }

  /** Every access token under the grant is revoked as of `at`; the grant is gone. */
  grantRevoked(clientId, at) {
    const grant = this.grants.get(clientId);
    if (!grant) return;
    for (const token of grant.accessTokens) if (!revokedAt.has(token)) revokedAt.set(token, at);
    this.grants.delete(clientId);
  }

  async refresh() {
    const held = this.someGrant();
    if (!held || held.grant.refreshTokens.length === 0) return this.codeFlow();
    const index = random(held.grant.refreshTokens.length);
    const refreshToken = held.grant.refreshTokens[index];
    const answer = await http('POST', '/oauth2/token', {
      headers: { ...FORM, Authorization: basic(held.client) },
      body: formBody({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    if (answer.status !== 200) return fail(`refresh of a live token: ${answer.status} ${answer.text.slice(0, 200)}`);
    const body = answer.json();
    held.grant.refreshTokens[index] = body.refresh_token;
    held.grant.accessTokens.push(issued(body.access_token));
  }

  /** One refresh token spent twice at once: exactly one success, and the family's reuse revokes the grant (RFC 9700 §4.14.2). */
  async refreshRace() {
    const held = this.someGrant();
    if (!held || held.grant.refreshTokens.length === 0) return this.codeFlow();
    const refreshToken = held.grant.refreshTokens[random(held.grant.refreshTokens.length)];
    const spend = () =>
      http('POST', '/oauth2/token', {
        headers: { ...FORM, Authorization: basic(held.client) },
        body: formBody({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      });
    const answers = await Promise.all([spend(), spend()]);
    const won = answers.filter((answer) => answer.status === 200);
    if (won.length > 1) fail('one refresh token was spent twice: two 200 answers');
    const lost = answers.filter((answer) => answer.status === 400);
    if (won.length + lost.length !== 2) fail(`refresh race: answers ${answers.map((a) => a.status).join(', ')}`);
    for (const answer of won) held.grant.accessTokens.push(issued(answer.json().access_token));
    // The loser found the token spent: the family leaked, its grant is gone (audited refresh_reuse).
    expectedAudit.refresh_reuse += lost.length;
    if (lost.length > 0) this.grantRevoked(held.clientId, Math.max(...lost.map((answer) => answer.answeredAt)));
  }

  /** The newest access token of a standing grant, if it is young enough to be sure it has not expired. */
  liveToken() {
    const token = this.someGrant()?.grant.accessTokens.at(-1);
    return token && Date.now() - issuedAt.get(token) < ACCESS_TOKEN_USE_MS ? token : null;
  }

  /** A bearer call with a token of a standing grant: must be accepted. */
  async bearerRead() {
    const token = this.liveToken();
    if (!token) return this.refresh();
    const answer = await http('GET', random(4) === 0 ? '/oauth2/userinfo' : '/api/books', {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (answer.status !== 200) fail(`a live token was refused: ${answer.status} ${answer.text.slice(0, 200)}`);
  }

  async bearerWrite() {
    const token = this.liveToken();
    if (!token) return this.refresh();
    const title = `Soak ${b64url(crypto.getRandomValues(new Uint8Array(9)))}`;
    const answer = await http('POST', '/api/books', {
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ title, author: 'Soak' }),
    });
    if (answer.status === 201) this.booksWritten.add(title);
    else fail(`a book write with a live token: ${answer.status} ${answer.text.slice(0, 200)}`);
  }

  /** Revokes one access token (RFC 7009); then it must be refused. */
  async revokeAccess() {
    const held = this.someGrant();
    if (!held || held.grant.accessTokens.length === 0) return this.codeFlow();
    const token = held.grant.accessTokens.splice(random(held.grant.accessTokens.length), 1)[0];
    const answer = await http('POST', '/oauth2/revoke', {
      headers: { ...FORM, Authorization: basic(held.client) },
      body: formBody({ token, token_type_hint: 'access_token' }),
    });
    if (answer.status !== 200) return fail(`revocation: ${answer.status}`);
    revokedAt.set(token, answer.answeredAt);
    await this.useRevoked(token);
  }

  /** Revokes a refresh token: its grant goes, with every token under it (RFC 7009 §2.1). */
  async revokeRefresh() {
    const held = this.someGrant();
    if (!held || held.grant.refreshTokens.length === 0) return this.codeFlow();
    const token = held.grant.refreshTokens[random(held.grant.refreshTokens.length)];
    const answer = await http('POST', '/oauth2/revoke', {
      headers: { ...FORM, Authorization: basic(held.client) },
      body: formBody({ token, token_type_hint: 'refresh_token' }),
    });
    if (answer.status !== 200) return fail(`revocation: ${answer.status}`);
    expectedAudit.grant_revoked += 1;
    const victim = held.grant.accessTokens.at(-1);
    this.grantRevoked(held.clientId, answer.answeredAt);
    if (victim) await this.useRevoked(victim);
  }

  /** Deletes one of the user's clients (its grants and tokens go), and registers a new one. */
  async deleteClient() {
    if (this.clients.length === 0) return this.registerClient();
    await this.ensureApiToken();
    const [client] = this.clients.splice(random(this.clients.length), 1);
    const answer = await http('DELETE', `/api/clients/${encodeURIComponent(client.id)}`, {
      headers: { Authorization: `Bearer ${this.apiToken}` },
    });
    if (answer.status !== 204) return fail(`client deletion: ${answer.status} ${answer.text.slice(0, 200)}`);
    expectedAudit.client_deleted += 1;
    const victim = this.grants.get(client.id)?.accessTokens.at(-1);
    this.grantRevoked(client.id, answer.answeredAt);
    if (victim) await this.useRevoked(victim);
    await this.registerClient();
  }

  /** Presents a token whose revocation was answered: any acceptance is a broken invariant. */
  async useRevoked(token = [...revokedAt.keys()][random(revokedAt.size)]) {
    if (!token) return;
    const answer = await http('GET', random(2) === 0 ? '/api/books' : '/oauth2/userinfo', {
      headers: { Authorization: `Bearer ${token}` },
    });
    // Sent after the revocation's answer arrived (the same millisecond counts: the answer came first).
    if (answer.sentAt < revokedAt.get(token)) return;
    if (answer.status >= 200 && answer.status < 300) {
      fail(`a token was accepted by a request sent ${answer.sentAt - revokedAt.get(token)} ms after its revocation was answered`);
    } else if (answer.status !== 401) fail(`a revoked token: ${answer.status}, not 401`);
  }

  /** At the end: a fresh flow, and every book this user wrote is read back. */
  async readBack() {
    await this.codeFlow();
    const [token] = [...this.grants.values()].flatMap((grant) => grant.accessTokens).sort((a, b) => issuedAt.get(b) - issuedAt.get(a));
    if (!token) return fail(`${this.email}: no token to read the books back with`);
    const answer = await http('GET', '/api/books', { headers: { Authorization: `Bearer ${token}` } });
    if (answer.status !== 200) return fail(`reading back: ${answer.status}`);
    const titles = new Set(answer.json().map((book) => book.title));
    const missing = [...this.booksWritten].filter((title) => !titles.has(title));
    if (missing.length > 0) fail(`${this.email}: ${missing.length} of ${this.booksWritten.size} books written were not read back`);
  }
}

/** The mix of steps: weights out of 100. */
const STEPS = [
  ['bearerRead', 30],
  ['bearerWrite', 18],
  ['refresh', 15],
  ['codeFlow', 9],
  ['signIn', 4],
  ['revokeAccess', 5],
  ['revokeRefresh', 4],
  ['refreshRace', 3],
  ['deleteClient', 2],
  ['useRevoked', 10],
];
const TOTAL_WEIGHT = STEPS.reduce((sum, [, weight]) => sum + weight, 0);
function pickStep() {
  let roll = random(TOTAL_WEIGHT);
  for (const [step, weight] of STEPS) {
    if (roll < weight) return step;
    roll -= weight;
  }
  return STEPS[0][0];
}

// ---------------------------------------------------------------- the users, before the server starts

/** The soak's users, stored as sign-up stores them (the app's own password hashing): sign-up is limited per network. */
async function seedUsers() {
  await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir]);
  const { hashPassword } = await importTypeScript('src/services/passwords.ts');
  const users = Array.from({ length: USERS }, (_, i) => ({
    id: crypto.randomUUID(),
    email: `soak-${i}@tollgate.test`,
    name: `Soak ${i}`,
    password: `soak password ${b64url(crypto.getRandomValues(new Uint8Array(9)))}`,
  }));
  const hashes = await Promise.all(users.map((user) => hashPassword(user.password)));
  const { env, dispose } = await localBindings();
  try {
    await env.DB.batch(
      users.map((user, i) =>
        env.DB.prepare('insert into users (id, email, name, password_hash, created_at) values (?, ?, ?, ?, ?)').bind(
          user.id,
          user.email,
          user.name,
          hashes[i],
          Math.floor(Date.now() / 1000),
        ),
      ),
    );
  } finally {
    await dispose(); // before wrangler dev opens the same local D1
  }
  return users;
}

// ---------------------------------------------------------------- invariants in D1

async function checkDatabase(users) {
  const { env, dispose } = await localBindings();
  const all = async (sql) => (await env.DB.prepare(sql).all()).results;
  try {
    const orphans = {
      'grants without their client': 'select count(*) as n from grants g left join clients c on c.id = g.client_id where c.id is null',
      'grants without their user':
        'select count(*) as n from grants g left join users u on u.id = g.user_id where g.user_id is not null and u.id is null',
      'refresh tokens without their grant':
        'select count(*) as n from refresh_tokens t left join grants g on g.id = t.grant_id where g.id is null',
      'codes without their grant': 'select count(*) as n from codes k left join grants g on g.id = k.grant_id where g.id is null',
      'books without their user': 'select count(*) as n from books b left join users u on u.id = b.user_id where u.id is null',
      'sessions without their user': 'select count(*) as n from sessions s left join users u on u.id = s.user_id where u.id is null',
      'clients without their owner':
        'select count(*) as n from clients c left join users u on u.id = c.owner_id where c.owner_id is not null and u.id is null',
      'client origins without their client':
        'select count(*) as n from client_origins o left join clients c on c.id = o.client_id where c.id is null',
    };
    for (const [what, sql] of Object.entries(orphans)) {
      const [{ n }] = await all(sql);
      if (n > 0) fail(`D1: ${n} ${what}`);
    }
    const [{ n: twoSuccessors }] = await all(
      'select count(*) as n from (select parent_hash from refresh_tokens where parent_hash is not null group by parent_hash having count(*) > 1)',
    );
    if (twoSuccessors > 0) fail(`D1: ${twoSuccessors} refresh tokens with two successors (spent twice)`);
    const [{ n: lostSuccessor }] = await all(
      'select count(*) as n from refresh_tokens t where t.used_at is not null and not exists (select 1 from refresh_tokens s where s.hash = t.replaced_by and s.parent_hash = t.hash)',
    );
    if (lostSuccessor > 0) fail(`D1: ${lostSuccessor} spent refresh tokens without their one successor`);
    const [{ n: unspentParent }] = await all(
      'select count(*) as n from refresh_tokens s join refresh_tokens t on t.hash = s.parent_hash where t.used_at is null or t.replaced_by <> s.hash',
    );
    if (unspentParent > 0) fail(`D1: ${unspentParent} refresh tokens whose parent is not marked spent by them`);

    const books = await all('select u.email as email, b.title as title from books b join users u on u.id = b.user_id');
    const stored = new Map(users.map((user) => [user.email, new Set()]));
    for (const { email, title } of books) stored.get(email)?.add(title);
    for (const user of users) {
      const inD1 = stored.get(user.email) ?? new Set();
      const missing = [...user.booksWritten].filter((title) => !inD1.has(title)).length;
      const extra = [...inD1].filter((title) => !user.booksWritten.has(title)).length;
      if (missing > 0 || extra > 0) fail(`D1: ${user.email}: ${missing} books written but not stored, ${extra} stored but never written`);
    }

    const audit = Object.fromEntries(
      (await all('select type, count(*) as n from audit_events group by type')).map((row) => [row.type, row.n]),
    );
    for (const type of new Set([...Object.keys(audit), ...Object.keys(expectedAudit)])) {
      if ((audit[type] ?? 0) !== (expectedAudit[type] ?? 0)) {
        fail(`D1: audit events of type ${type}: ${audit[type] ?? 0} stored, ${expectedAudit[type] ?? 0} actions taken`);
      }
    }
    return { audit, books: books.length };
  } finally {
    await dispose();
  }
}

// ---------------------------------------------------------------- run

const started = Date.now();
let server;
let summary = {};
try {
  const credentials = await seedUsers();
  server = await startTollgate({ stateDir, deadlineMs: START_DEADLINE_MS });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.stop().then(() => process.exit(1)));
  if (!server.metadata) {
    console.error(server.output().slice(-4000));
    throw new Error(`the server did not serve within ${START_DEADLINE_MS / 1000} s`);
  }
  baseUrl = server.baseUrl;
  console.log(`soak: ${USERS} users for ${SOAK_SECONDS} s against ${baseUrl}`);
  const users = credentials.map((credential) => new User(credential));
  const deadline = Date.now() + SOAK_SECONDS * 1000;
  await Promise.all(
    users.map(async (user) => {
      await user.signIn();
      await user.registerClient();
      while (!stopLoad && Date.now() < deadline) {
        const step = pickStep();
        counts.byStep[step] = (counts.byStep[step] ?? 0) + 1;
        await user[step]();
      }
    }),
  );
  for (const user of users) await user.readBack();
  await server.stop();
  summary = await checkDatabase(users);
} catch (error) {
  fail(`soak stopped: ${error.stack ?? error}`);
} finally {
  await server?.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(`soak: ${counts.requests} requests in ${seconds} s; steps ${JSON.stringify(counts.byStep)}`);
console.log(`soak: audit events ${JSON.stringify(summary.audit ?? {})}; books ${summary.books ?? '?'}; tokens revoked ${revokedAt.size}`);
if (devProxyDrops > 0)
  console.log(`soak: wrangler dev's proxy dropped ${devProxyDrops} request(s) before the Worker (workers-sdk#14641); each was sent again`);
if (failures.size > 0) {
  console.error(`\nsoak FAILED: ${failures.size} kind(s) of broken invariant:`);
  for (const { message, times } of failures.values()) console.error(`  - ${message}${times > 1 ? ` (and ${times - 1} more like it)` : ''}`);
  // What the server said besides its request lines (a runtime restart, an
  // uncaught error): the cause of a 5xx is there, not in the answer.
  const said = (server?.output() ?? '')
    .split('\n')
    .filter((line) => line.trim() && !/\[wrangler:info\] (GET|POST|PUT|DELETE|OPTIONS|HEAD) /.test(line));
  console.error(`\nthe server's last words (${said.length} lines besides requests):\n${said.slice(-60).join('\n')}`);
  process.exit(1);
}
console.log('soak: every invariant holds');
