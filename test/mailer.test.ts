import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../src/app';
import { createDeps } from '../src/deps';
import { buildMime, cloudflareEmailMailer, devMailboxMailer, httpApiMailer, linksOf, MailError, mailerFor } from '../src/services/mailer';
import { passwordResetMail, verificationMail } from '../src/services/mailer-messages';
import { keepMailStatements, listKeptMail } from '../src/storage/dev-mailbox';
import { awaitMail, Browser, call, ISSUER, mailTo, unique } from './helpers';

const FROM = 'Tollgate <auth@tollgate.example>';
const message = (to: string) => verificationMail(to, 'Ada', `${ISSUER}/verify-email?token=abc`, 24);

/** The mails the stand-in mail API accepted (test/stand-ins/turnstile-siteverify.js). */
async function sentThroughApi(): Promise<Array<Record<string, unknown>>> {
  return (await (await fetch('https://api.resend.com/__sent')).json()) as Array<Record<string, unknown>>;
}

describe('the HTTP mail API adapter (MAIL_API=resend)', () => {
  const settings = { MAIL_API: 'resend', MAIL_API_KEY: 'standin-mail-key', MAIL_FROM: FROM };

  it('posts Resend JSON with the key as a bearer token: from, to, subject, text and html', async () => {
    const to = `${unique('api')}@example.com`;
    await httpApiMailer(settings).send(message(to));
    const sent = (await sentThroughApi()).find((mail) => (mail.to as string[])[0] === to);
    expect(sent).toMatchObject({ from: FROM, to: [to], subject: 'Confirm your email address' });
    expect(sent?.text).toContain(`${ISSUER}/verify-email?token=abc`);
    expect(sent?.html).toContain(`href="${ISSUER}/verify-email?token=abc"`);
  });

  it('throws a MailError with the status, never the key or the mail, when the API refuses', async () => {
    const wrongKey = httpApiMailer({ ...settings, MAIL_API_KEY: 'wrong-key' });
    const refused = await wrongKey.send(message('someone@example.com')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MailError);
    expect((refused as Error).message).toBe('the mail API refused the mail: HTTP 401');
    const failing = await httpApiMailer(settings)
      .send(message('fail-now@example.com'))
      .catch((error: unknown) => error);
    expect((failing as Error).message).toBe('the mail API refused the mail: HTTP 500');
    expect((failing as Error).message).not.toContain('fail-now');
  });

  it('is refused (server_error) without its key or sender, and for an API it does not know', () => {
    expect(() => httpApiMailer({ MAIL_API: 'resend', MAIL_FROM: FROM })).toThrow('mail is misconfigured');
    expect(() => httpApiMailer({ MAIL_API: 'resend', MAIL_API_KEY: 'k' })).toThrow('mail is misconfigured');
    expect(() => httpApiMailer({ ...settings, MAIL_API: 'carrier-pigeon' })).toThrow('mail is misconfigured');
  });

  it('is what mailerFor picks when MAIL_API is set and DEV_MAILBOX is not', () => {
    const deps = createDeps({ ...env, DEV_MAILBOX: undefined, ...settings });
    expect(mailerFor(deps).kind).toBe('http-api');
  });
});

describe('the Cloudflare Email adapter (send_email binding)', () => {
  it('builds RFC 5322 MIME: sender, recipient, subject, Message-ID, a text part then an HTML part', () => {
    const mime = buildMime(FROM, message('reader@example.com'));
    expect(mime).toMatch(/^From: =\?utf-8\?B\?VG9sbGdhdGU=\?= <auth@tollgate\.example>\r?$/m); // "Tollgate", encoded
    expect(mime).toMatch(/^To: <reader@example\.com>\r?$/m);
    expect(mime).toMatch(/^Subject: =\?utf-8\?B\?[A-Za-z0-9+/=]+\?=\r?$/m);
    expect(mime).toMatch(/^Message-ID: <[0-9a-f-]{36}@tollgate\.example>\r?$/m);
    expect(mime).toMatch(/^Content-Type: multipart\/alternative; boundary=/m);
    const text = mime.indexOf('Content-Type: text/plain');
    const html = mime.indexOf('Content-Type: text/html');
    expect(text).toBeGreaterThan(0);
    expect(html).toBeGreaterThan(text); // RFC 2046 §5.1.4: the preferred (richest) part last
  });

  it('sends through a real send_email binding, which parses the MIME and checks the sender', async () => {
    expect(env.SEND_EMAIL).toBeDefined();
    await cloudflareEmailMailer(env.SEND_EMAIL!, FROM).send(message('reader@example.com'));
  });

  it('throws a MailError when the binding refuses (a sender it does not allow)', async () => {
    const refused = await cloudflareEmailMailer(env.SEND_EMAIL!, 'Someone <someone@elsewhere.example>')
      .send(message('reader@example.com'))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MailError);
  });

  it('is what mailerFor picks with SEND_EMAIL and MAIL_FROM, without MAIL_API or DEV_MAILBOX', () => {
    expect(mailerFor(createDeps({ ...env, DEV_MAILBOX: undefined, MAIL_FROM: FROM })).kind).toBe('cloudflare-email');
    expect(mailerFor(createDeps({ ...env, DEV_MAILBOX: undefined, SEND_EMAIL: undefined })).kind).toBe('none');
  });
});

describe('messages', () => {
  it('escape what a user chose in the HTML part (their name)', async () => {
    const mail = verificationMail('x@example.com', '<img src=x onerror=alert(1)>', `${ISSUER}/verify-email?token=t`, 24);
    expect(mail.html).not.toContain('<img');
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.text).toContain('<img src=x onerror=alert(1)>'); // plain text is not HTML
  });

  it('carry the link in both parts, and the reset mail says how long it works', () => {
    const mail = passwordResetMail('x@example.com', `${ISSUER}/reset-password?token=t`, 30);
    expect(linksOf(mail.text)).toEqual([`${ISSUER}/reset-password?token=t`]);
    expect(mail.html).toContain(`href="${ISSUER}/reset-password?token=t"`);
    expect(mail.text).toContain('30 minutes');
  });
});

describe('GET /dev/mailbox', () => {
  it('lists mail newest first as JSON {to, subject, text, links, sent_at}', async () => {
    const to = `${unique('box')}@example.com`;
    const mailer = devMailboxMailer(createDeps(env));
    await mailer.send({ ...message(to), subject: 'first' });
    await mailer.send({ ...message(to), subject: 'second' });
    const mails = await mailTo(to);
    expect(mails.map((mail) => mail.subject)).toEqual(['second', 'first']);
    expect(Object.keys(mails[0]!).sort()).toEqual(['links', 'sent_at', 'subject', 'text', 'to']);
    expect(mails[0]).toMatchObject({ to, links: [`${ISSUER}/verify-email?token=abc`] });
    expect(typeof mails[0]!.sent_at).toBe('number');
  });

  it('shows a page (HTML) by default, with the text escaped and the HTML part not rendered', async () => {
    const to = `${unique('page')}@example.com`;
    const browser = new Browser();
    const signup = await browser.submit('/signup', { name: '<script>alert(1)</script>', email: to, password: 'long enough pw' });
    expect(signup.status).toBe(303);
    await awaitMail(to, 'Confirm your email');
    const page = await call(`/dev/mailbox?to=${encodeURIComponent(to)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('Confirm your email address');
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('keeps at most the newest N mails: each insert trims in its own batch', async () => {
    const db = createDeps(env).db;
    const to = `${unique('bound')}@example.com`;
    const mail = { to, subject: 's', text: 't', html: '<p>t</p>', links: [], sentAt: 1 };
    for (let i = 0; i < 4; i++) await db.batch(keepMailStatements(db, { ...mail, subject: `m${i}` }, 3));
    const kept = await listKeptMail(db, 10);
    expect(kept.length).toBe(3);
    expect(kept.map((row) => row.subject)).toEqual(['m3', 'm2', 'm1']);
  });

  it('does not exist when DEV_MAILBOX is off: 404, as for any unknown path', async () => {
    const response = await app.request(`${ISSUER}/dev/mailbox`, {}, { ...env, DEV_MAILBOX: undefined });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe('not_found');
    const other = await app.request(`${ISSUER}/dev/mailbox`, {}, { ...env, DEV_MAILBOX: 'false' });
    expect(other.status).toBe(404);
  });
});
