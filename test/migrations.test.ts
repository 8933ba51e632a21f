import { applyD1Migrations, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

// Production databases hold rows when a migration runs. A migration that
// rebuilds a table (SQLite cannot drop NOT NULL in place) drops the old one,
// and with foreign keys on a DROP may cascade into every table that points at
// it; this applies each migration to a database that has rows and checks they
// all survive.
const db = env.MIGRATION_DB;
const before = env.TEST_MIGRATIONS.filter((migration) => migration.name < '0002');
const after = env.TEST_MIGRATIONS.filter((migration) => migration.name >= '0002');

async function count(table: string): Promise<number> {
  const row = await db.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>();
  return row?.n ?? 0;
}

describe('migrations', () => {
  it('0002 rebuilds clients without losing a client, its grants, codes or refresh tokens', async () => {
    expect(before.length).toBeGreaterThan(0);
    expect(after[0]?.name).toMatch(/^0002_/);
    await applyD1Migrations(db, before);
    const t = 1_700_000_000;
    await db.batch([
      db.prepare(`INSERT INTO users (id, email, name, password_hash, created_at) VALUES ('u1', 'a@example.com', 'A', 'x', ${t})`),
      db.prepare(
        `INSERT INTO clients (id, owner_id, name, secret_hash, token_endpoint_auth_method, redirect_uris, grant_types, scope, created_at)
         VALUES ('c1', 'u1', 'App', 'h', 'client_secret_basic', '["https://app.example/cb"]', '["authorization_code","refresh_token"]', NULL, ${t})`,
      ),
      db.prepare(`INSERT INTO client_origins (origin, client_id) VALUES ('https://app.example', 'c1')`),
      db.prepare(
        `INSERT INTO grants (id, user_id, client_id, scope, created_at, updated_at) VALUES ('g1', 'u1', 'c1', 'openid', ${t}, ${t})`,
      ),
      db.prepare(
        `INSERT INTO codes (hash, grant_id, client_id, user_id, redirect_uri, code_challenge, scope, request_hash, auth_time, expires_at, created_at)
         VALUES ('code1', 'g1', 'c1', 'u1', 'https://app.example/cb', 'ch', 'openid', 'r1', ${t}, ${t + 60}, ${t})`,
      ),
      db.prepare(
        `INSERT INTO refresh_tokens (hash, grant_id, client_id, user_id, scope, auth_time, created_at, expires_at, absolute_expires_at)
         VALUES ('rt1', 'g1', 'c1', 'u1', 'openid', ${t}, ${t}, ${t + 60}, ${t + 120})`,
      ),
    ]);

    await applyD1Migrations(db, after);

    expect({
      clients: await count('clients'),
      client_origins: await count('client_origins'),
      grants: await count('grants'),
      codes: await count('codes'),
      refresh_tokens: await count('refresh_tokens'),
    }).toEqual({ clients: 1, client_origins: 1, grants: 1, codes: 1, refresh_tokens: 1 });
    const client = await db.prepare(`SELECT owner_id, metadata_expires_at FROM clients WHERE id = 'c1'`).first();
    expect(client).toEqual({ owner_id: 'u1', metadata_expires_at: null });
    // The foreign keys still hold after the rebuild: deleting the client cascades.
    await db.prepare(`DELETE FROM clients WHERE id = 'c1'`).run();
    expect(await count('grants')).toBe(0);
    expect(await count('refresh_tokens')).toBe(0);
    // And a client may now belong to no one.
    await db
      .prepare(
        `INSERT INTO clients (id, owner_id, name, token_endpoint_auth_method, redirect_uris, grant_types, created_at)
         VALUES ('anon', NULL, 'Anon', 'none', '[]', '["authorization_code"]', ${t})`,
      )
      .run();
    expect(await count('clients')).toBe(1);
  });
});
