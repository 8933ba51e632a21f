import type { KeptMail } from '../storage/dev-mailbox';
import { Layout } from './layout';

function date(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * /dev/mailbox: the mails kept by the dev mailbox, newest first. Each shows
 * its text part (escaped by hono/jsx) and its links; the HTML part is not
 * rendered, so a mail cannot run anything on this page.
 */
export function DevMailboxPage({ mails }: { mails: KeptMail[] }) {
  return (
    <Layout title="Dev mailbox">
      <p class="meta">Mail Tollgate would have sent (DEV_MAILBOX=true, local development only). Newest first.</p>
      {mails.length === 0 ? (
        <p>No mail yet.</p>
      ) : (
        <ul class="mailbox">
          {mails.map((mail) => (
            <li>
              <strong>{mail.subject}</strong>
              <span class="meta">
                {' '}
                · to {mail.to} · {date(mail.sentAt)}
              </span>
              <pre>{mail.text}</pre>
              {mail.links.map((link) => (
                <p>
                  <a href={link}>{link}</a>
                </p>
              ))}
            </li>
          ))}
        </ul>
      )}
    </Layout>
  );
}
