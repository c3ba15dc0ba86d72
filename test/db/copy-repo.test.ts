import { describe, expect, it } from "vitest";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createSqliteLedger, sqliteLedger } from "../../db/sqlite/sqlite-ledger.ts";
import { listMigrations, openDb } from "../../db/sqlite/open-db.ts";
import { SnapbotError } from "../../src/errors.ts";
import { fakeClock } from "../../src/clock.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The copies table on SQLite (migration 014): what the ledger contract (test/contract/ledger/copies-contract.ts)
// cannot show from outside: a row changed between a transition's read and its guarded UPDATE, and the alerts
// rebuild that adds copy_failed without losing a column.

const dir = tempDir("snapbot-copies-db-");

describe("copies in the SQLite ledger", () => {
  it("a guarded transition fails when the row changed under it, and its transaction rolls back", async () => {
    const db = openDb(join(dir, "guard.db"));
    // Another writer moves the copy between the transition's read and its guarded UPDATE: the UPDATE's statement
    // first runs that other write (on this connection, inside the transition's transaction).
    let interfere = false;
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      const st = prepare(sql);
      if (!/^UPDATE copies SET state = @to\b.* WHERE id = @id AND state = @from$/.test(sql)) return st;
      const run = st.run.bind(st);
      st.run = ((params: { id: number }) => {
        if (interfere) prepare("UPDATE copies SET state = 'failed' WHERE id = ?").run(params.id);
        return run(params);
      }) as typeof st.run;
      return st;
    }) as typeof db.prepare;
    const ledger = sqliteLedger(db, fakeClock(Date.UTC(2026, 0, 1)));
    try {
      await ledger.servers.syncFromConfig([{ name: "files-1", driver: "archive", settings: {} }]);
      const server = (await ledger.servers.get("files-1"))!;
      const snap = await ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
      const c = await ledger.copies.insert({ snapshot_id: snap.id, server_id: server.id, name: "s1", target: "offsite", created_by: "U1", snapshot_created_at: snap.created_at });
      interfere = true;
      const e = await ledger.copies.transition(c.id, "done").then(
        () => null,
        (x: unknown) => x,
      );
      interfere = false;
      expect(e).toBeInstanceOf(SnapbotError);
      expect(e).toMatchObject({ code: "concurrent_change", message: expect.stringMatching(/changed while being updated/) });
      expect((await ledger.copies.get(c.id))!.state).toBe("running"); // the whole transaction rolled back: never "done", nor the other write
      expect((await ledger.copies.transition(c.id, "done")).state).toBe("done"); // without the other writer it goes through
    } finally {
      await ledger.close();
    }
  });

  it("migration 014 keeps every alert and its ack columns, and accepts copy_failed", async () => {
    const path = join(dir, "upgrade.db");
    const db = new Database(path);
    chmodSync(path, 0o600); // as snapbot creates a ledger (no warning about other users)
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (const m of listMigrations().filter((x) => x.version < 14)) {
      db.exec(m.sql); // the ledger as the snapbot before copies left it
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(m.version, m.name);
    }
    db.prepare(`INSERT INTO alerts (kind, key, state, message, channel, first_seen, last_seen, acked_by, acked_at, resolved_why)
      VALUES ('snapshot_failed', 'snapshot_failed:w:', 'open', 'm', 'C', 1, 2, 'U9', 3, NULL)`).run();
    expect(() => db.prepare("INSERT INTO alerts (kind, key, state, message, first_seen, last_seen) VALUES ('copy_failed', 'k', 'open', 'm', 0, 0)").run()).toThrow(/CHECK/);
    db.close();
    const ledger = createSqliteLedger(path, fakeClock(0)); // applies 014
    expect(await ledger.alerts.listOpen()).toEqual([expect.objectContaining({ kind: "snapshot_failed", acked_by: "U9", acked_at: 3, message: "m", channel: "C", first_seen: 1 })]);
    expect((await ledger.alerts.raise({ kind: "copy_failed", key: "copy_failed:w:s1@offsite", server_id: null, snapshot_id: null, message: "c", channel: null })).fresh).toBe(true);
    await ledger.close();
    const after = new Database(path);
    try {
      expect(after.prepare("SELECT max(version) FROM schema_migrations").pluck().get()).toBeGreaterThanOrEqual(14);
      expect(() => after.prepare("INSERT INTO alerts (kind, key, state, message, first_seen, last_seen) VALUES ('nonsense', 'k2', 'open', 'm', 0, 0)").run()).toThrow(/CHECK/);
      const indexes = after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' ORDER BY name").pluck().all();
      expect(indexes).toEqual(["alerts_open_by_server", "alerts_open_key", "alerts_open_kind", "alerts_outbox"]); // 017 adds the outbox's
    } finally {
      after.close();
    }
  });
});
