import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { listMigrations, openDb } from "../../db/sqlite/open-db.ts";
import { LedgerPathError } from "../../db/sqlite/ledger-file.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// SNAPBOT_DB once chmod-ed whatever it named to 0600 (/dev/null included). The ledger is created 0600
// by snapbot, anything else is refused or left as it is.
const dir = tempDir("snapbot-ledger-file-");
const modeOf = (path: string) => statSync(path).mode & 0o777;

function refusal(path: string): string {
  const warnings: string[] = [];
  try {
    openDb(path, Date.now, (m) => warnings.push(m)).close();
  } catch (e) {
    expect(e).toBeInstanceOf(LedgerPathError);
    expect(warnings).toEqual([]);
    return (e as Error).message;
  }
  throw new Error(`${path} was opened as a ledger`);
}

describe("the ledger file", () => {
  it("runs in WAL mode with a busy timeout and records each migration once", () => {
    const path = join(dir, "wal.db");
    const db = openDb(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
    const rows = db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all();
    expect(rows).toEqual(listMigrations().map((m) => ({ version: m.version, name: m.name })));
    db.close();
    const again = openDb(path); // re-opening applies nothing twice
    expect(again.prepare("SELECT count(*) AS n FROM schema_migrations").get()).toEqual({ n: listMigrations().length });
    const tables = again.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all().map((r) => (r as { name: string }).name);
    expect(tables).toEqual(expect.arrayContaining(["servers", "snapshots", "schedules", "operations", "approvals", "alerts", "host_keys"]));
    again.close();
  });

  it("creates a new ledger 0600, and SQLite's -wal and -shm files 0600 too, whatever the umask", () => {
    const path = join(dir, "new/ledger.db");
    const old = process.umask(0o000); // a permissive umask must not leak into the files
    let db;
    try {
      db = openDb(path, Date.now, () => expect.fail("no warning for a ledger snapbot created"));
      db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"); // the -wal file exists while the ledger is open
      expect(modeOf(path)).toBe(0o600);
      expect(modeOf(`${path}-wal`)).toBe(0o600);
      expect(modeOf(`${path}-shm`)).toBe(0o600);
      expect(modeOf(join(dir, "new"))).toBe(0o700);
    } finally {
      process.umask(old);
      db?.close();
    }
  });

  it("leaves an existing 0644 ledger 0644 and warns that others can read it", () => {
    const path = join(dir, "shared.db");
    openDb(path).close();
    chmodSync(path, 0o644);
    const warnings: string[] = [];
    const db = openDb(path, Date.now, (m) => warnings.push(m));
    db.close();
    expect(modeOf(path)).toBe(0o644);
    expect(warnings).toEqual([`the ledger ${path} is open to other users (mode 0644) and names servers, paths and people: chmod 600 ${path}`]);
  });

  it("refuses /dev/null and leaves its mode alone", () => {
    const before = statSync("/dev/null");
    expect(refusal("/dev/null")).toBe("ledger /dev/null: is a device, not a regular file: set SNAPBOT_DB to a file path (default ./data/snapbot.db)");
    const after = statSync("/dev/null");
    expect([after.mode, after.uid, after.gid]).toEqual([before.mode, before.uid, before.gid]);
  });

  it("refuses a device node of its own, and does not touch its mode", () => {
    const node = join(dir, "null-copy");
    execFileSync("mknod", ["-m", "666", node, "c", "1", "3"]);
    expect(refusal(node)).toMatch(/: is a device, not a regular file: /);
    expect(modeOf(node)).toBe(0o666);
  });

  it("refuses a FIFO, a folder and a socket, each in one line", async () => {
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", ["-m", "644", fifo]);
    expect(refusal(fifo)).toBe(`ledger ${fifo}: is a FIFO, not a regular file: set SNAPBOT_DB to a file path (default ./data/snapbot.db)`);
    expect(modeOf(fifo)).toBe(0o644);
    const folder = join(dir, "a-folder");
    mkdirSync(folder, { mode: 0o755 });
    expect(refusal(folder)).toBe(`ledger ${folder}: is a folder, not a regular file: set SNAPBOT_DB to a file path (default ./data/snapbot.db)`);
    expect(modeOf(folder)).toBe(0o755);
    const sock = join(dir, "sock");
    const server = createServer();
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      expect(refusal(sock)).toMatch(/: is a socket, not a regular file: /);
    } finally {
      server.close();
    }
  });

  it("names the file in the way when a parent of the path is a regular file", () => {
    const file = join(dir, "plain.txt");
    writeFileSync(file, "not a folder\n");
    expect(refusal(join(file, "ledger.db"))).toBe(`ledger ${file}/ledger.db: cannot be used: ${file} is a file, not a folder: set SNAPBOT_DB to a file path (default ./data/snapbot.db)`);
    expect(refusal(join(file, "deeper/ledger.db"))).toMatch(new RegExp(`cannot be used: ${file} is a file, not a folder`));
  });

  it("opens a ledger through a symlink to a regular file, and refuses one to a device", () => {
    const target = join(dir, "real.db");
    openDb(target).close();
    const link = join(dir, "link.db");
    execFileSync("ln", ["-s", target, link]);
    openDb(link).close();
    const devLink = join(dir, "dev-link.db");
    execFileSync("ln", ["-s", "/dev/null", devLink]);
    expect(refusal(devLink)).toMatch(/is a device/);
  });
});
