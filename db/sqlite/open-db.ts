import Database from "better-sqlite3";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { prepareLedgerFile } from "./ledger-file.ts";

export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations", "sqlite");
const MIGRATION_FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export type Warn = (message: string) => void;

/**
 * Opens (creating it 0600 if needed) the ledger file in WAL mode and applies pending migrations in order.
 * A path that is not a regular file throws LedgerPathError; `warn` hears of a ledger others can read.
 */
export function openDb(path: string, now: () => number = Date.now, warn: Warn = (m) => process.emitWarning(m)): Db {
  if (path !== ":memory:") {
    const warning = prepareLedgerFile(path);
    if (warning) warn(warning);
  }
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000"); // a second process (the CLI, a test) waits instead of failing
  db.pragma("synchronous = NORMAL"); // WAL + NORMAL: durable across process crashes, fast commits
  db.pragma("foreign_keys = ON");
  db.pragma("cache_size = -32768"); // 32 MiB of page cache: a big ledger's hot pages stay in memory
  db.pragma("mmap_size = 268435456"); // reads by mmap, no syscall a page: list p99 stays flat on 1M rows
  migrate(db, now);
  return db;
}

export function migrate(db: Db, now: () => number = Date.now): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as Array<{ version: number }>).map((r) => r.version),
  );
  const done: number[] = [];
  for (const m of listMigrations()) {
    if (applied.has(m.version)) continue;
    // Each migration and its record commit together: a crash never leaves one half-applied.
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, now());
    })();
    done.push(m.version);
  }
  return done;
}

export function listMigrations(dir = MIGRATIONS_DIR): Array<{ version: number; name: string; sql: string }> {
  return readdirSync(dir)
    .map((file) => ({ file, m: MIGRATION_FILE.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), name: m[2]!, sql: readFileSync(join(dir, file), "utf8") }))
    .sort((a, b) => a.version - b.version);
}
