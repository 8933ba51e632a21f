import { Hono } from 'hono';
import { z } from 'zod';
import { DEV_MAILBOX_MAX_MESSAGES, EMAIL_MAX_LENGTH } from '../config';
import type { AppEnv } from '../env';
import { OAuthError } from '../errors';
import { validatePage } from '../middleware/validate';
import { devMailboxEnabled } from '../services/mailer';
import { listKeptMail } from '../storage/dev-mailbox';
import { DevMailboxPage } from '../views/dev-mailbox';

/**
 * GET /dev/mailbox (DEV_MAILBOX=true only; otherwise no such route, 404):
 * the kept mails, newest first, as a page or, with `Accept:
 * application/json`, as `[{to, subject, text, links, sent_at}]` (SPEC, Wave
 * 2). `?to=` narrows to one address (tests and scripts read their own mail).
 */
export const devMailbox = new Hono<AppEnv>();

const mailboxQuery = z.object({ to: z.string().trim().toLowerCase().max(EMAIL_MAX_LENGTH).optional().catch(undefined) });

// Off, the route does not exist: the same 404 as any unknown path.
devMailbox.use(async function onlyWhenEnabled(c, next) {
  if (!devMailboxEnabled(c.env)) {
    throw new OAuthError('not_found', { status: 404, description: `no route for ${c.req.method} ${c.req.path.slice(0, 200)}` });
  }
  await next();
});

devMailbox.get('/mailbox', validatePage('query', mailboxQuery), async function listMailbox(c) {
  const query = c.req.valid('query');
  const mails = await listKeptMail(c.var.deps.db, DEV_MAILBOX_MAX_MESSAGES, query.to || undefined);
  if ((c.req.header('Accept') ?? '').includes('application/json')) {
    const body = mails.map((mail) => ({ to: mail.to, subject: mail.subject, text: mail.text, links: mail.links, sent_at: mail.sentAt }));
    return c.json(body, 200, { 'Cache-Control': 'no-store' });
  }
  return c.html(<DevMailboxPage mails={mails} />);
});
