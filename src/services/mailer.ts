import { EmailMessage } from 'cloudflare:email';
import { createMimeMessage } from 'mimetext/browser';
import type { Bindings } from '../bindings';
import { DEV_MAILBOX_MAX_MESSAGES, MAIL_API_TIMEOUT } from '../config';
import type { Deps } from '../deps';
import { OAuthError } from '../errors';
import { now } from '../lib/crypto';
import { keepMailStatements } from '../storage/dev-mailbox';
import { isLoopbackIssuer } from './keys';

/** One mail: a plain-text part and an HTML part saying the same (services build both, views/mail.tsx). */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * The mailer port: where Tollgate's mail goes. Adapters: Cloudflare Email
 * (a `send_email` binding), an HTTP mail API (Resend's JSON API), and the dev
 * mailbox (kept in D1, listed at /dev/mailbox). `mailerFor` picks one from
 * the configuration. A send that fails throws; callers that mail off the
 * response's path (waitUntil) log and drop it.
 */
export interface Mailer {
  readonly kind: 'dev-mailbox' | 'cloudflare-email' | 'http-api' | 'none';
  send(message: MailMessage): Promise<void>;
}

/** Thrown by an adapter whose send failed (never carries the message or a secret). */
export class MailError extends Error {
  override readonly name = 'MailError';
}

/** What an operator is told when DEV_MAILBOX is set where it must not be: mail and /dev/mailbox then fail closed. */
export const DEV_MAILBOX_REFUSED = 'DEV_MAILBOX is refused unless the issuer is http on a loopback host';

/**
 * Whether the dev mailbox is on. It keeps every mail, links included, in
 * clear and lists them to anyone who asks, so it is refused unless the
 * issuer is plain http on a loopback host, a developer's own machine: set
 * anywhere else, asking for a mailer or for /dev/mailbox fails closed with a
 * server_error (and a log line naming the setting), so no mail is kept, none
 * is listed, and none goes out by another way either.
 */
export function devMailboxEnabled(env: Pick<Bindings, 'DEV_MAILBOX' | 'ISSUER'>): boolean {
  if (env.DEV_MAILBOX !== 'true') return false;
  if (!isDevIssuer(env.ISSUER)) {
    console.error(`Tollgate: ${DEV_MAILBOX_REFUSED} (issuer ${env.ISSUER}): remove DEV_MAILBOX`);
    throw new OAuthError('server_error', { status: 500, description: DEV_MAILBOX_REFUSED });
  }
  return true;
}

function isDevIssuer(issuer: string): boolean {
  try {
    return new URL(issuer).protocol === 'http:' && isLoopbackIssuer(issuer);
  } catch {
    return false;
  }
}

/** The mailer the configuration names: the dev mailbox, else an HTTP mail API, else Cloudflare Email, else none. */
export function mailerFor(deps: Deps): Mailer {
  const { env } = deps;
  if (devMailboxEnabled(env)) return devMailboxMailer(deps);
  if (env.MAIL_API) return httpApiMailer(env);
  if (env.SEND_EMAIL && env.MAIL_FROM) return cloudflareEmailMailer(env.SEND_EMAIL, env.MAIL_FROM);
  return noMailer();
}

/** The dev mailbox: the mail is kept in D1 (bounded) and shown at /dev/mailbox; nothing leaves the machine. */
export function devMailboxMailer({ db }: Deps): Mailer {
  return {
    kind: 'dev-mailbox',
    async send(message) {
      // One batch: the insert and the trim that keeps the newest DEV_MAILBOX_MAX_MESSAGES.
      await db.batch(keepMailStatements(db, { ...message, links: linksOf(message.text), sentAt: now() }, DEV_MAILBOX_MAX_MESSAGES));
    },
  };
}

/** The http(s) links in a text, in order, without repeats (what a reader of the mail can follow). */
export function linksOf(text: string): string[] {
  return [...new Set(text.match(/https?:\/\/[^\s<>"]+/g) ?? [])];
}

/** The address part of a MAIL_FROM such as `Tollgate <auth@example.com>`. */
function addressOf(from: string): string {
  return /<([^<>\s]+)>\s*$/.exec(from)?.[1] ?? from.trim();
}

/**
 * The message as RFC 5322 MIME (mimetext): multipart/alternative with the
 * text part first and the HTML part last, as RFC 2046 §5.1.4 orders them
 * (the last part a reader can show is preferred).
 */
export function buildMime(from: string, message: MailMessage): string {
  const mime = createMimeMessage();
  mime.setSender(from);
  mime.setRecipient(message.to);
  mime.setSubject(message.subject);
  // Cloudflare Email needs a Message-ID; it names the sender's domain.
  mime.setHeader('Message-ID', `<${crypto.randomUUID()}@${addressOf(from).split('@')[1] ?? 'tollgate.invalid'}>`);
  mime.addMessage({ contentType: 'text/plain', data: message.text });
  mime.addMessage({ contentType: 'text/html', data: message.html });
  return mime.asRaw();
}

/** Cloudflare Email Routing's `send_email` binding, with the message built as MIME. */
export function cloudflareEmailMailer(binding: SendEmail, from: string): Mailer {
  return {
    kind: 'cloudflare-email',
    async send(message) {
      try {
        await binding.send(new EmailMessage(addressOf(from), message.to, buildMime(from, message)));
      } catch (error) {
        throw new MailError(`send_email refused the mail: ${error instanceof Error ? error.message : 'unknown error'}`);
      }
    },
  };
}

/** The HTTP mail APIs Tollgate speaks, by MAIL_API: their endpoint. */
const MAIL_APIS = {
  /** Resend's JSON API (https://resend.com/docs/api-reference/emails/send-email). */
  resend: 'https://api.resend.com/emails',
} as const;

/**
 * An HTTP mail API (MAIL_API=resend): a JSON POST with the MAIL_API_KEY
 * secret as a bearer token, awaited at most MAIL_API_TIMEOUT. Refused at
 * first use when its settings are missing (a server_error naming what to set).
 */
export function httpApiMailer(env: Pick<Bindings, 'MAIL_API' | 'MAIL_API_KEY' | 'MAIL_FROM'>): Mailer {
  const endpoint = env.MAIL_API && Object.hasOwn(MAIL_APIS, env.MAIL_API) ? MAIL_APIS[env.MAIL_API as keyof typeof MAIL_APIS] : null;
  const { MAIL_API_KEY: key, MAIL_FROM: from } = env;
  if (!endpoint || !key || !from) {
    const problem = `MAIL_API=${env.MAIL_API} needs MAIL_API=resend, the MAIL_API_KEY secret and MAIL_FROM`;
    console.error(`Tollgate: ${problem}`);
    throw new OAuthError('server_error', { status: 500, description: 'mail is misconfigured' });
  }
  return {
    kind: 'http-api',
    async send(message) {
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ from, to: [message.to], subject: message.subject, text: message.text, html: message.html }),
          signal: AbortSignal.timeout(MAIL_API_TIMEOUT * 1000),
        });
      } catch (error) {
        throw new MailError(`the mail API did not answer: ${error instanceof Error ? error.name : 'unknown error'}`);
      }
      // Read the body either way, so the connection is released; only its status is reported.
      await response.body?.cancel();
      if (!response.ok) throw new MailError(`the mail API refused the mail: HTTP ${response.status}`);
    },
  };
}

/** No mailer configured: the mail is dropped with a warning (never its content: links are secrets). */
function noMailer(): Mailer {
  return {
    kind: 'none',
    async send() {
      console.warn('Tollgate: no mailer configured (MAIL_API, or SEND_EMAIL with MAIL_FROM): a mail was dropped');
    },
  };
}

/**
 * Sends off the response's path (waitUntil): the answer does not wait for
 * the mail, nor show whether one was sent (no enumeration by timing). A
 * failure is logged without the address or the content.
 */
export async function sendQuietly(mailer: Mailer, message: MailMessage): Promise<void> {
  try {
    await mailer.send(message);
  } catch (error) {
    console.error(`Tollgate: a mail could not be sent (${mailer.kind}): ${error instanceof Error ? error.message : 'unknown error'}`);
  }
}
