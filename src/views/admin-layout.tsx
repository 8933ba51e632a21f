import type { PropsWithChildren } from 'hono/jsx';
import { CsrfField } from './layout';

/**
 * The frame of the admin console's pages: the same stylesheet and look as
 * every page (layout.tsx), wider for tables, with the console's navigation.
 * Its own frame rather than a prop of Layout because the dashboard adds its
 * chart files to the head; scripts and styles are files (the CSP allows no
 * inline script or style).
 */
export function AdminLayout({ title, children, head }: PropsWithChildren<{ title: string; head?: unknown }>) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Tollgate admin`}</title>
        <link rel="stylesheet" href="/static/tollgate.css" />
        <link rel="stylesheet" href="/static/admin/admin.css" />
        {head}
      </head>
      <body>
        <main class="admin">
          <p class="brand">Tollgate admin</p>
          <nav class="admin-nav" aria-label="Admin">
            <a href="/admin">Dashboard</a>
            <a href="/admin/users">Users</a>
            <a href="/admin/clients">Clients</a>
            <a href="/admin/audit">Audit log</a>
            <a href="/account">Your account</a>
          </nav>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

/** A one-button form that POSTs an admin action (CSRF token included). */
export function ActionButton(props: { action: string; label: string; csrf: string; returnTo?: string; secondary?: boolean }) {
  return (
    <form method="post" action={props.action} class="inline">
      <CsrfField token={props.csrf} />
      {props.returnTo ? <input type="hidden" name="return_to" value={props.returnTo} /> : null}
      <button type="submit" class={props.secondary ? 'secondary' : undefined}>
        {props.label}
      </button>
    </form>
  );
}

/** Previous and next page links that keep the list's query. */
export function Pager(props: { path: string; query: Record<string, string | undefined>; page: number; hasNext: boolean }) {
  const href = (page: number) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(props.query)) if (value) params.set(key, value);
    params.set('page', String(page));
    return `${props.path}?${params}`;
  };
  if (props.page <= 1 && !props.hasNext) return null;
  return (
    <p class="pager">
      {props.page > 1 ? <a href={href(props.page - 1)}>Previous page</a> : null}
      <span class="meta">Page {props.page}</span>
      {props.hasNext ? <a href={href(props.page + 1)}>Next page</a> : null}
    </p>
  );
}

export function when(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
