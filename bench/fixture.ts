// The parts of the bench's fixture (bench/harness.mjs) that compute or store
// what Tollgate itself would, made with Tollgate's own code: a PKCE pair, and
// refresh tokens minted straight into D1 (only their hashes, as the app
// stores them). The PKCE pair runs in Node (bundled by esbuild); the minting
// runs in the bench's Worker (bench/worker.ts `mint`), on its own D1 binding.
import { and, eq, isNotNull } from 'drizzle-orm';
import { REFRESH_TOKEN_ABSOLUTE_TTL, REFRESH_TOKEN_IDLE_TTL } from '../src/config';
import { hashSecret, now, randomSecret } from '../src/lib/crypto';
import { s256Challenge } from '../src/lib/pkce';
import { createDb } from '../src/storage/db';
import { grants, refreshTokens } from '../src/storage/schema';

/** Statements per D1 batch while minting (D1 takes at most 100 bound values per statement, 9 here). */
const MINT_BATCH = 200;

/** A PKCE code verifier and its S256 challenge (RFC 7636 §4.1, §4.2). */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = randomSecret();
  return { verifier, challenge: await s256Challenge(verifier) };
}

/**
 * `count` fresh refresh tokens of the user's grant to the client, each
 * usable once (a reuse would revoke the family), inserted as their hashes.
 */
export async function mintRefreshTokens(d1: D1Database, clientId: string, scope: string, count: number): Promise<string[]> {
  const db = createDb(d1);
  const [grant] = await db
    .select({ id: grants.id, userId: grants.userId })
    .from(grants)
    .where(and(eq(grants.clientId, clientId), isNotNull(grants.userId)))
    .limit(1);
  if (!grant?.userId) throw new Error(`no user grant for client ${clientId}`);
  const { id: grantId, userId } = grant;
  const time = now();
  const tokens = Array.from({ length: count }, () => randomSecret());
  for (let start = 0; start < count; start += MINT_BATCH) {
    const rows = await Promise.all(
      tokens.slice(start, start + MINT_BATCH).map(async (token) => ({
        hash: await hashSecret(token),
        grantId,
        clientId,
        userId,
        scope,
        authTime: time,
        createdAt: time,
        expiresAt: time + Math.min(REFRESH_TOKEN_IDLE_TTL, REFRESH_TOKEN_ABSOLUTE_TTL),
        absoluteExpiresAt: time + REFRESH_TOKEN_ABSOLUTE_TTL,
      })),
    );
    const [first, ...rest] = rows.map((row) => db.insert(refreshTokens).values(row));
    if (first) await db.batch([first, ...rest]);
  }
  return tokens;
}
