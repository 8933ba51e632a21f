import type { MailMessage } from './mailer';

// The mails Tollgate sends, each as a text part and an HTML part saying the
// same. The HTML is hono/jsx, which escapes every value it is given: a user's
// name is theirs to choose and goes into the mail only escaped.

function MailFrame({ title, children }: { title: string; children: unknown }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>{title}</title>
      </head>
      <body>
        <p>
          <strong>Tollgate</strong>
        </p>
        {children}
      </body>
    </html>
  );
}

function html(node: unknown): string {
  return `<!doctype html>${String(node)}`;
}

/** The link that proves the user receives mail at their address (sign-up, or "Resend" on /account). */
export function verificationMail(to: string, name: string, link: string, hours: number): MailMessage {
  const subject = 'Confirm your email address';
  const text = `Hello ${name},\n\nConfirm that this is your email address by opening this link:\n\n${link}\n\nThe link works once, for ${hours} hours. If you did not create a Tollgate account, ignore this mail.\n`;
  const body = (
    <MailFrame title={subject}>
      <p>Hello {name},</p>
      <p>Confirm that this is your email address by opening this link:</p>
      <p>
        <a href={link}>{link}</a>
      </p>
      <p>The link works once, for {hours} hours. If you did not create a Tollgate account, ignore this mail.</p>
    </MailFrame>
  );
  return { to, subject, text, html: html(body) };
}

/** The link that lets the user set a new password (/forgot). */
export function passwordResetMail(to: string, link: string, minutes: number): MailMessage {
  const subject = 'Reset your password';
  const text = `Someone asked to reset the password of the Tollgate account for this address.\n\nTo choose a new password, open this link:\n\n${link}\n\nThe link works once, for ${minutes} minutes. Setting a new password signs you out everywhere. If it was not you, ignore this mail: your password stays as it is.\n`;
  const body = (
    <MailFrame title={subject}>
      <p>Someone asked to reset the password of the Tollgate account for this address.</p>
      <p>To choose a new password, open this link:</p>
      <p>
        <a href={link}>{link}</a>
      </p>
      <p>
        The link works once, for {minutes} minutes. Setting a new password signs you out everywhere. If it was not you, ignore this mail:
        your password stays as it is.
      </p>
    </MailFrame>
  );
  return { to, subject, text, html: html(body) };
}

/**
 * Sign-up with an address that already has an account: its owner is told,
 * and the page answers as for a new account's mail, so the sign-up form does
 * not confirm to a stranger which addresses have accounts.
 */
export function accountExistsMail(to: string, loginLink: string, forgotLink: string): MailMessage {
  const subject = 'You already have a Tollgate account';
  const text = `Someone tried to create a Tollgate account with this address, which already has one.\n\nIf it was you, sign in: ${loginLink}\nForgot your password? ${forgotLink}\n\nIf it was not you, ignore this mail.\n`;
  const body = (
    <MailFrame title={subject}>
      <p>Someone tried to create a Tollgate account with this address, which already has one.</p>
      <p>
        If it was you, <a href={loginLink}>sign in</a>. Forgot your password? <a href={forgotLink}>Reset it</a>.
      </p>
      <p>If it was not you, ignore this mail.</p>
    </MailFrame>
  );
  return { to, subject, text, html: html(body) };
}
