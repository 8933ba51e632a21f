import type { PropsWithChildren } from 'hono/jsx';

/** The frame of every page. Styles come from /static/tollgate.css: the CSP allows no inline style or script. */
export function Layout({ title, children }: PropsWithChildren<{ title: string }>) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Tollgate`}</title>
        <link rel="stylesheet" href="/static/tollgate.css" />
      </head>
      <body>
        <main>
          <p class="brand">Tollgate</p>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

/** A labelled input: the label names the field for people and for tests alike. */
export function Field(props: { id: string; label: string; type: string; autocomplete: string; value?: string | undefined }) {
  return (
    <p class="field">
      <label for={props.id}>{props.label}</label>
      <input id={props.id} name={props.id} type={props.type} autocomplete={props.autocomplete} value={props.value} required />
    </p>
  );
}

export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="csrf_token" value={token} />;
}

export function Alert({ message }: { message?: string | undefined }) {
  return message ? (
    <p class="alert" role="alert">
      {message}
    </p>
  ) : null;
}
