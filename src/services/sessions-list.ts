import type { Deps } from '../deps';
import { base64url, now, sha256 } from '../lib/crypto';
import { recordAudit } from '../storage/audit';
import type { Db } from '../storage/db';
import { deleteSessionOfUser, listSessionsOfUser } from '../storage/sessions';

/** One of the user's sessions as /account lists it. */
export interface SessionRow {
  /** An opaque reference for the End session form, never the session's stored id. */
  ref: string;
  device: string;
  authTime: number;
  lastSeenAt: number | null;
  current: boolean;
}

/**
 * A session's reference in the End session form: a hash of its stored id, so
 * the page never carries the key of the sessions table. 128 bits.
 */
async function sessionRef(idHash: string): Promise<string> {
  return base64url((await sha256(`session-ref:${idHash}`)).slice(0, 16));
}

/** A device name from a User-Agent, simply: the browser and the system ("Firefox on Linux"). */
export function deviceName(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device';
  const browser =
    [
      [/Edg(e|A|iOS)?\//, 'Edge'],
      [/OPR\/|Opera/, 'Opera'],
      [/Firefox\/|FxiOS\//, 'Firefox'],
      [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
      [/Safari\//, 'Safari'],
      [/^curl\//, 'curl'],
    ].find(([pattern]) => (pattern as RegExp).test(userAgent))?.[1] ?? 'A browser';
  const system =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad|iPod/, 'iOS'],
      [/CrOS/, 'ChromeOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/Linux/, 'Linux'],
    ].find(([pattern]) => (pattern as RegExp).test(userAgent))?.[1] ?? null;
  return system ? `${browser} on ${system}` : `${browser}`;
}

/** The user's live sessions for /account, the current one marked. `db` may be the page's replica session. */
export async function sessionsOfUser(db: Db, userId: string, currentIdHash: string): Promise<SessionRow[]> {
  const rows = await listSessionsOfUser(db, userId, now());
  return Promise.all(
    rows.map(async (row) => ({
      ref: await sessionRef(row.idHash),
      device: deviceName(row.userAgent),
      authTime: row.authTime,
      lastSeenAt: row.lastSeenAt,
      current: row.idHash === currentIdHash,
    })),
  );
}

/**
 * Ends one of the user's other sessions (End session): found by its
 * reference among the user's own live sessions only, so no one can end
 * another user's session whatever reference they send. False when none matched.
 */
export async function endSessionOfUser(deps: Deps, userId: string, ref: string): Promise<boolean> {
  const rows = await listSessionsOfUser(deps.db, userId, now());
  for (const row of rows) {
    if ((await sessionRef(row.idHash)) !== ref) continue;
    const ended = await deleteSessionOfUser(deps.db, userId, row.idHash);
    if (ended) await recordAudit(deps.db, { type: 'session_ended', userId });
    return ended;
  }
  return false;
}
