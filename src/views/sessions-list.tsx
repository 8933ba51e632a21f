import type { SessionRow } from '../services/sessions-list';
import { CsrfField } from './layout';

function date(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * "Where you are signed in": each session with its device, sign-in time and
 * last use; each other session with **End session**, the current one marked
 * (the page's **Sign out** ends it) (SPEC, Wave 2).
 */
export function SessionsSection({ csrf, sessions }: { csrf: string; sessions: SessionRow[] }) {
  return (
    <>
      <h2>Where you are signed in</h2>
      <ul class="sessions">
        {sessions.map((session) => (
          <li>
            <strong>{session.device}</strong>
            {session.current ? <span class="meta"> · this browser</span> : null}
            <span class="meta">
              {' '}
              · signed in {date(session.authTime)} · last seen {session.lastSeenAt ? date(session.lastSeenAt) : 'unknown'}
            </span>
            {session.current ? null : (
              <form method="post" action={`/account/sessions/${session.ref}/end`}>
                <CsrfField token={csrf} />
                <button type="submit" class="secondary" aria-label={`End session on ${session.device}`}>
                  End session
                </button>
              </form>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
