import type pg from "pg";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Schema migrations for the PostgreSQL ledger (db/migrations/postgres/NNN_name.sql), applied at start. Several
// replicas may start at once: all of it runs in one transaction holding a transaction-scoped advisory lock, so
// one replica migrates and the others, once it commits, find every version recorded and apply nothing.

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations", "postgres");
const MIGRATION_FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;
/** The advisory lock's key: any constant no other application on the database uses ("snapbot" in ASCII). */
export const MIGRATION_LOCK = 0x736e6170626f74;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => ({ file, m: MIGRATION_FILE.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), name: m[2]!, sql: readFileSync(join(dir, file), "utf8") }))
    .sort((a, b) => a.version - b.version);
}

/** Applies the pending migrations on `client` (checked out by the caller); returns the versions applied. */
export async function migrate(client: pg.ClientBase, now: () => number, migrations = listMigrations()): Promise<number[]> {
  const done: number[] = [];
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    const applied = new Set((await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, now()]);
      done.push(m.version);
    }
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
  return done;
}
