import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { RETURN_TO_MAX_LENGTH, UPSTREAM_CALLBACK_PARAM_MAX_LENGTH, UPSTREAM_LINK_TTL, UPSTREAM_REQUEST_TTL } from '../config';
import type { AppEnv } from '../env';
import { PageError } from '../errors';
import { clientIp, clientNetwork } from '../helpers/client-ip';
import { clearCookie, readCookie, writeCookie } from '../helpers/cookies';
import { limitBody, requireContentType } from '../middleware/body';
import { csrfToken, verifyCsrf } from '../middleware/csrf';
import { loadSession, startSession } from '../middleware/session';
import { validatePage } from '../middleware/validate';
import { overLimit } from '../services/rate-limits';
import { AMR_FEDERATED, beginPendingSignIn } from '../services/totp';
import { accountForUpstream, completeLink, linkProblem, unlinkIdentity } from '../services/upstream-accounts';
import { openPending, type PendingLink, type PendingSignIn, sealPending, usePending } from '../services/upstream-pending';
import { type UpstreamProvider, upstreamProviders } from '../services/upstream-providers';
import { beginUpstreamSignIn, finishUpstreamSignIn, UpstreamError } from '../services/upstream-relying-party';
import { recordAudit } from '../storage/audit';
import { ConfirmLinkPage, LinkNeededPage } from '../views/upstream';
import { rateLimitedSignIn, safeReturnTo } from './login';
import { askForSecondFactor } from './two-factor';

// Sign-in through upstream identity providers (issue 17): the HTTP side.
//   POST /login/upstream/:id           start: seal the pending state in a cookie, send the browser to the provider
//   GET  /login/upstream/:id/callback  the provider's answer: check, use the state once, sign in (or ask to link)
//   GET  /login/upstream/link          confirm linking to an existing account, once its owner signed in
//   POST /login/upstream/link
//   POST /account/providers/unlink     (the `upstreamAccount` app)

/**
 * The pending sign-in's cookie: HttpOnly, `__Host-` and Secure on https like
 * every cookie here, SameSite=Lax so the provider's top-level redirect back
 * brings it, and one per browser (a new sign-in replaces it).
 */
const SIGN_IN_COOKIE = 'tg_upstream';
/** The pending link's cookie, likewise. */
const LINK_COOKIE = 'tg_upstream_link';
/** Where the browser goes to confirm a link (also the return path from /login). */
const LINK_PATH = '/login/upstream/link';

/** The provider named in the path, or a 404 page; a bad configuration is a 503 page that says what is wrong. */
function providerOf(c: Context<AppEnv>, id: string): UpstreamProvider {
  const config = upstreamProviders(c.env);
  if (!config.ok) {
    console.error(`Tollgate: ${config.problem}`);
    throw new PageError('Sign-in provider unavailable', `Signing in with another provider is not available: ${config.problem}.`, 503);
  }
  const provider = config.providers.find((candidate) => candidate.id === id);
  if (!provider) throw new PageError('Not found', 'There is no such sign-in provider.', 404);
  return provider;
}

/** An UpstreamError as a page; anything else is unexpected and goes to the 500 handler. */
function refused(error: unknown, provider: UpstreamProvider): never {
  if (error instanceof UpstreamError) {
    throw new PageError('Sign-in failed', `Signing in with ${provider.name} failed. ${error.message}`, 400);
  }
  throw error;
}

/**
 * Counts an upstream start or callback against its client network
 * (UPSTREAM_IP_LIMITER; each costs fetches to the provider, a callback D1
 * writes); over the limit, the sign-in page says so with 429 and Retry-After
 * (RFC 6585 §4), as a limited password sign-in does (routes/login.tsx).
 * Counted only with a client network (through Cloudflare), like sign-ups:
 * the limiter is a Rate Limiting binding, not D1, so the happy path gains no
 * round trip.
 */
async function limitedUpstream(c: Context<AppEnv>, returnTo: string): Promise<Response | null> {
  const network = clientNetwork(c);
  if (!network || !(await overLimit(c.var.deps, 'upstreamNetwork', network))) return null;
  return rateLimitedSignIn(c, returnTo);
}

const formPost = [limitBody, requireContentType('application/x-www-form-urlencoded'), verifyCsrf] as const;
const startForm = z.object({ return_to: z.string().max(RETURN_TO_MAX_LENGTH).optional().catch(undefined) });

export const upstream = new Hono<AppEnv>();

const param = z.string().max(UPSTREAM_CALLBACK_PARAM_MAX_LENGTH).optional();
/** RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2: what a provider may send back; anything else is left for oauth4webapi to ignore. */
const callbackQuery = z.object({ code: param, state: param, iss: param, error: param, error_description: param });

upstream.get('/link', loadSession, async function confirmLinkPage(c) {
  const link = await pendingLink(c);
  const provider = providerOf(c, link.provider);
  const problem = linkProblem(link, c.var.session);
  if (problem === 'other-account') throw otherAccount(link);
  if (problem === 'sign-in') return c.redirect(signInToLinkHref(link), 302);
  return c.html(<ConfirmLinkPage providerName={provider.name} email={link.email} csrf={csrfToken(c)} />);
});

upstream.post('/link', ...formPost, loadSession, async function linkAccount(c) {
  const link = await pendingLink(c);
  const problem = linkProblem(link, c.var.session);
  if (problem === 'other-account') throw otherAccount(link);
  if (problem === 'sign-in') return c.redirect(signInToLinkHref(link), 303);
  const linked = await completeLink(c.var.deps, link, clientIp(c));
  clearCookie(c, LINK_COOKIE);
  if (!linked) throw new PageError('Link failed', 'This link was used already, has expired, or that account is linked to someone.', 409);
  return c.redirect(link.returnTo, 303);
});

// After /link: `/:id` would match `/link` too, and Hono runs routes in the order they were added.
upstream.post('/:id', ...formPost, validatePage('form', startForm), async function startUpstreamSignIn(c) {
  const provider = providerOf(c, c.req.param('id'));
  const returnTo = safeReturnTo(c.req.valid('form').return_to);
  const limited = await limitedUpstream(c, returnTo);
  if (limited) return limited;
  let started: Awaited<ReturnType<typeof beginUpstreamSignIn>>;
  try {
    started = await beginUpstreamSignIn(c.var.deps, provider, returnTo);
  } catch (error) {
    refused(error, provider);
  }
  writeCookie(c, SIGN_IN_COOKIE, await sealPending(c.var.deps, 'signIn', started.pending, UPSTREAM_REQUEST_TTL), UPSTREAM_REQUEST_TTL);
  return c.redirect(started.authorizationUrl, 303);
});

upstream.get('/:id/callback', validatePage('query', callbackQuery), async function upstreamCallback(c) {
  const { deps } = c.var;
  const provider = providerOf(c, c.req.param('id'));
  // Before the cookie is opened or used: a limited callback stores nothing and
  // leaves the pending sign-in in its cookie.
  const limited = await limitedUpstream(c, '/account');
  if (limited) return limited;
  const sealed = readCookie(c, SIGN_IN_COOKIE);
  // Login CSRF (RFC 6749 §10.12): an answer is taken only in the browser that started the sign-in, once.
  const pending = sealed ? await openPending<PendingSignIn>(deps, 'signIn', sealed) : null;
  clearCookie(c, SIGN_IN_COOKIE);
  if (!pending) {
    throw new PageError(
      'Sign-in expired',
      'No sign-in is in progress in this browser, or it has expired. Start again from the sign-in page.',
      400,
    );
  }
  if (pending.provider !== provider.id) {
    throw new PageError('Sign-in failed', 'This answer came back for another provider than the sign-in was started with.', 400);
  }
  if (!(await usePending(deps, pending, UPSTREAM_REQUEST_TTL))) {
    throw new PageError('Sign-in expired', 'This sign-in was used already. Start again from the sign-in page.', 400);
  }
  let outcome: Awaited<ReturnType<typeof accountForUpstream>>;
  try {
    const profile = await finishUpstreamSignIn(deps, provider, pending, new URL(c.req.url));
    outcome = await accountForUpstream(deps, provider, profile, { returnTo: pending.returnTo, ip: clientIp(c) });
  } catch (error) {
    refused(error, provider);
  }
  if (outcome.kind === 'refused') throw new PageError(outcome.title, outcome.message, outcome.status);
  if (outcome.kind === 'link-needed') {
    writeCookie(c, LINK_COOKIE, await sealPending(deps, 'link', outcome.link, UPSTREAM_LINK_TTL), UPSTREAM_LINK_TTL);
    return c.html(<LinkNeededPage providerName={provider.name} email={outcome.link.email} loginHref={signInToLinkHref(outcome.link)} />);
  }
  if (outcome.twoFactor) {
    // Two-factor on: the provider's word is the first step only. The sign-in
    // waits for the code like a password sign-in (routes/two-factor.tsx),
    // which then makes the session with `["fed","otp"]` and audits it. The
    // first step is audited as a password's is (`password_accepted`).
    const token = await beginPendingSignIn(deps, outcome.user.id, pending.returnTo, AMR_FEDERATED);
    await recordAudit(deps.db, { type: 'upstream_accepted', userId: outcome.user.id, ip: clientIp(c) });
    return askForSecondFactor(c, token);
  }
  await startSession(c, outcome.user.id, AMR_FEDERATED);
  await recordAudit(deps.db, { type: 'sign_in', userId: outcome.user.id, ip: clientIp(c) });
  return c.redirect(pending.returnTo, 303);
});

/** The pending link in this browser, or a 400 page. */
async function pendingLink(c: Context<AppEnv>): Promise<PendingLink> {
  const sealed = readCookie(c, LINK_COOKIE);
  const link = sealed ? await openPending<PendingLink>(c.var.deps, 'link', sealed) : null;
  if (!link)
    throw new PageError(
      'Link expired',
      'No account link is waiting in this browser, or it has expired. Sign in with the provider again.',
      400,
    );
  return link;
}

function signInToLinkHref(link: PendingLink): string {
  return `/login?return_to=${encodeURIComponent(LINK_PATH)}&login_hint=${encodeURIComponent(link.email)}`;
}

function otherAccount(link: PendingLink): PageError {
  return new PageError('Another account', `You are signed in to another account. Sign out, then sign in as ${link.email} to link it.`, 403);
}

const unlinkForm = z.object({
  provider: z.string().min(1).max(64),
  subject: z.string().min(1).max(255),
});

/** /account's Unlink buttons. */
export const upstreamAccount = new Hono<AppEnv>();

upstreamAccount.post('/unlink', ...formPost, loadSession, validatePage('form', unlinkForm), async function unlink(c) {
  const session = c.var.session;
  if (!session) return c.redirect('/login?return_to=%2Faccount', 303);
  const form = c.req.valid('form');
  const result = await unlinkIdentity(c.var.deps, session.user.id, form.provider, form.subject, clientIp(c));
  if (result === 'not-found') throw new PageError('Not found', 'No such sign-in provider is linked to your account.', 404);
  if (result === 'last-way-in') {
    throw new PageError('Cannot unlink', 'This is the only way you can sign in. Set a password or add a passkey first.', 409);
  }
  return c.redirect('/account', 303);
});
