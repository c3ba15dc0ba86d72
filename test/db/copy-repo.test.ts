import { describe, expect, it } from "vitest";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createLedger } from "../../db/sqlite/ledger.ts";
import { listMigrations } from "../../db/sqlite/open-db.ts";
import { copyMachine, type CopyState } from "../../db/states.ts";
import { IllegalTransitionError, SnapbotError } from "../../src/errors.ts";
import { fakeClock } from "../../src/clock.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The copies table (migration 014): a copy's own state machine with guarded transitions, one live copy per
// place on a target, and the alerts rebuild that adds copy_failed without losing a column.

const dir = tempDir("snapbot-copies-db-");
let n = 0;
function fresh() {
  const clock = fakeClock(Date.UTC(2026, 0, 1));
  const ledger = createLedger(join(dir, `c${++n}.db`), clock);
  ledger.servers.syncFromConfig([{ name: "files-1", driver: "archive", settings: {} }]);
  const server = ledger.servers.get("files-1")!;
  const snap = ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
  const newCopy = (target = "offsite", s = snap) =>
    ledger.copies.insert({ snapshot_id: s.id, server_id: server.id, name: s.name, target, created_by: "U1", snapshot_created_at: s.created_at });
  return { ledger, clock, server, snap, newCopy };
}

describe("copies in the ledger", () => {
  const paths: CopyState[][] = [["done"], ["failed"], ["done", "broken", "done"], ["done", "broken", "deleting", "deleted"], ["done", "deleting", "expired"], ["done", "deleting", "broken"]];
  it.each(paths.map((p) => [p.join(" → "), p] as const))("walks running → %s", (_name, path) => {
    const { ledger, newCopy } = fresh();
    const c = newCopy();
    expect(c).toMatchObject({ state: "running", server: "files-1", name: "s1", target: "offsite", location: null });
    for (const to of path) expect(ledger.copies.transition(c.id, to).state).toBe(to);
    ledger.close();
  });

  it("refuses every transition the machine does not list, and changes nothing", () => {
    const { ledger, newCopy, snap } = fresh();
    const all = Object.keys(copyMachine) as CopyState[];
    let refused = 0;
    for (const from of all)
      for (const to of all) {
        if (copyMachine[from].includes(to)) continue;
        const c = newCopy(`t-${from}-${to}`, snap);
        ledger.db.prepare("UPDATE copies SET state = ? WHERE id = ?").run(from, c.id);
        expect(() => ledger.copies.transition(c.id, to)).toThrow(IllegalTransitionError);
        expect(ledger.copies.get(c.id)!.state).toBe(from);
        refused++;
        ledger.db.prepare("UPDATE copies SET state = 'deleted' WHERE id = ?").run(c.id);
      }
    expect(refused).toBeGreaterThan(30);
    ledger.close();
  });

  it("a guarded transition fails when the row changed under it", () => {
    const { ledger, newCopy } = fresh();
    const c = newCopy();
    const real = ledger.copies.get.bind(ledger.copies);
    // Another writer moves the copy between the read and the guarded UPDATE.
    ledger.copies.get = (id: number) => {
      const row = real(id);
      if (row?.state === "running") ledger.db.prepare("UPDATE copies SET state = 'failed' WHERE id = ?").run(id);
      return row;
    };
    expect(() => ledger.copies.transition(c.id, "done")).toThrow(/changed while being updated/);
    ledger.copies.get = real;
    expect(ledger.copies.get(c.id)!.state).toBe("running"); // the whole transaction rolled back: never "done"
    ledger.close();
  });

  it("one live copy per place on a target; a failed or removed one frees it, another target is another place", () => {
    const { ledger, newCopy, snap, server } = fresh();
    const first = newCopy();
    expect(() => newCopy()).toThrow(SnapbotError);
    expect(newCopy("nas").target).toBe("nas");
    ledger.copies.transition(first.id, "failed");
    const second = newCopy();
    ledger.copies.transition(second.id, "done");
    // The local snapshot is deleted and a new one takes its name: its copy would need the same place.
    ledger.snapshots.transition(snap.id, "failed");
    const again = ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
    expect(() => newCopy("offsite", again)).toThrow(/already holds a copy named s1/);
    expect(ledger.copies.liveAt(server.id, "s1", "offsite")!.snapshot_id).toBe(snap.id);
    expect(ledger.copies.live(again.id, "offsite")).toBeUndefined();
    expect(ledger.copies.ofSnapshot(snap.id).map((c) => [c.target, c.state])).toEqual([["offsite", "done"], ["nas", "running"], ["offsite", "failed"]]);
    ledger.close();
  });

  it("retention candidates are one server's done and broken copies on one target, by the snapshot's own time", () => {
    const { ledger, newCopy, server } = fresh();
    const times = [30, 10, 20];
    const made = times.map((t, i) => {
      const s = ledger.snapshots.insert({ server_id: server.id, name: `d${i}`, created_by: "U1", created_at: Date.UTC(2026, 0, t) });
      return newCopy("offsite", s);
    });
    ledger.copies.transition(made[0]!.id, "done");
    ledger.copies.transition(made[1]!.id, "done");
    ledger.copies.transition(ledger.copies.transition(made[2]!.id, "done").id, "broken");
    newCopy("nas", ledger.snapshots.insert({ server_id: server.id, name: "other", created_by: "U1" })); // running, elsewhere
    expect(ledger.copies.candidates("offsite", server.id).map((c) => [c.name, c.state])).toEqual([["d1", "done"], ["d2", "broken"], ["d0", "done"]]);
    expect(ledger.copies.serversOn("offsite")).toEqual(["files-1"]);
    expect(ledger.copies.serversOn("nas")).toEqual([]);
    expect(ledger.copies.unfinished().map((c) => c.target)).toEqual(["nas"]);
    ledger.close();
  });

  it("migration 014 keeps every alert and its ack columns, and accepts copy_failed", () => {
    const path = join(dir, "upgrade.db");
    const db = new Database(path);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (const m of listMigrations().filter((x) => x.version < 14)) {
      db.exec(m.sql); // the ledger as the snapbot before copies left it
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(m.version, m.name);
    }
    db.prepare(`INSERT INTO alerts (kind, key, state, message, channel, first_seen, last_seen, acked_by, acked_at, resolved_why)
      VALUES ('snapshot_failed', 'snapshot_failed:w:', 'open', 'm', 'C', 1, 2, 'U9', 3, NULL)`).run();
    expect(() => db.prepare("INSERT INTO alerts (kind, key, state, message, first_seen, last_seen) VALUES ('copy_failed', 'k', 'open', 'm', 0, 0)").run()).toThrow(/CHECK/);
    db.close();
    const ledger = createLedger(path, fakeClock(0)); // applies 014
    expect(ledger.alerts.listOpen()).toEqual([expect.objectContaining({ kind: "snapshot_failed", acked_by: "U9", acked_at: 3, message: "m", channel: "C", first_seen: 1 })]);
    expect(ledger.alerts.raise({ kind: "copy_failed", key: "copy_failed:w:s1@offsite", server_id: null, snapshot_id: null, message: "c", channel: null }).fresh).toBe(true);
    expect(() => ledger.db.prepare("INSERT INTO alerts (kind, key, state, message, first_seen, last_seen) VALUES ('nonsense', 'k2', 'open', 'm', 0, 0)").run()).toThrow(/CHECK/);
    const indexes = ledger.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' ORDER BY name").pluck().all();
    expect(indexes).toEqual(["alerts_open_by_server", "alerts_open_key", "alerts_open_kind"]);
    ledger.close();
  });
});
