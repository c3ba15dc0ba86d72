import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { openDb, listMigrations } from "../../db/sqlite/open-db.ts";
import { createLedger, fromDb } from "../../db/sqlite/ledger.ts";
import { IllegalTransitionError } from "../../src/errors.ts";
import { snapshotMachine, operationMachine, type SnapshotState } from "../../db/states.ts";
import { fakeClock } from "../../src/clock.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const dir = tempDir("snapbot-ledger-");
let n = 0;
const fresh = () => {
  const clock = fakeClock();
  return { ledger: createLedger(join(dir, `l${++n}.db`), clock), clock };
};
const withServer = () => {
  const f = fresh();
  f.ledger.servers.syncFromConfig([{ name: "demo", driver: "archive", settings: { paths: ["/tmp"] } }]);
  return { ...f, server: f.ledger.servers.get("demo")! };
};

describe("ledger file", () => {
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
});

describe("snapshot state machine", () => {
  const legal: Array<[SnapshotState, SnapshotState[]]> = [
    ["pending", ["running"]],
    ["pending", ["running", "done"]],
    ["pending", ["running", "failed"]],
    ["pending", ["running", "broken"]],
    ["pending", ["running", "done", "broken", "deleting", "deleted"]],
    ["pending", ["running", "done", "expired"]],
  ];
  it.each(legal)("walks %s → %j", (_from, path) => {
    const { ledger, server } = withServer();
    const s = ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
    for (const to of path) expect(ledger.snapshots.transition(s.id, to).state).toBe(to);
  });

  it("refuses every transition the machine does not list, and changes nothing", () => {
    const all = Object.keys(snapshotMachine) as SnapshotState[];
    let refused = 0;
    for (const from of all)
      for (const to of all) {
        if (snapshotMachine[from].includes(to)) continue;
        const { ledger, server } = withServer();
        const s = ledger.snapshots.insert({ server_id: server.id, name: "s", created_by: "U1" });
        ledger.db.prepare("UPDATE snapshots SET state=? WHERE id=?").run(from, s.id); // put it there directly
        expect(() => ledger.snapshots.transition(s.id, to, { error: "x" })).toThrow(IllegalTransitionError);
        expect(ledger.snapshots.get(s.id)).toMatchObject({ state: from, error: null });
        refused++;
      }
    expect(refused).toBeGreaterThan(40);
  });

  it("never goes from done back to running, nor from deleted anywhere", () => {
    expect(snapshotMachine.done).not.toContain("running");
    expect(snapshotMachine.deleted).toEqual([]);
    expect(operationMachine.succeeded).toEqual([]);
  });

  it("guards the update on the state it read: a stale writer loses", () => {
    const { ledger, server } = withServer();
    const s = ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
    const other = fromDb(ledger.db, fakeClock()); // a second writer on the same file
    other.snapshots.transition(s.id, "running");
    other.snapshots.transition(s.id, "failed");
    expect(() => ledger.snapshots.transition(s.id, "running")).toThrow(/cannot go from failed to running/);
  });

  it("keeps names unique among live snapshots but free again after a failure", () => {
    const { ledger, server } = withServer();
    const a = ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" });
    expect(() => ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" })).toThrow(/already exists/);
    ledger.snapshots.transition(a.id, "failed", { error: "boom" });
    const b = ledger.snapshots.insert({ server_id: server.id, name: "nightly", created_by: "U1" });
    expect(ledger.snapshots.find(server.id, "nightly")!.id).toBe(b.id);
  });

  it("rolls back everything in a transaction when one change is illegal", () => {
    const { ledger, server } = withServer();
    const s = ledger.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
    const op = ledger.operations.insert({ kind: "create", server_id: server.id, snapshot_id: s.id, requested_by: "U1" });
    expect(() =>
      ledger.tx(() => {
        ledger.operations.transition(op.id, "running");
        ledger.snapshots.transition(s.id, "done"); // pending → done is illegal
      }),
    ).toThrow(IllegalTransitionError);
    expect(ledger.operations.get(op.id)!.state).toBe("queued");
    expect(ledger.snapshots.get(s.id)!.state).toBe("pending");
  });
});

describe("operations (the audit log)", () => {
  it("records who asked, times and the result, and enforces its machine", () => {
    const { ledger, server, clock } = withServer();
    const op = ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "U1", args: { name: "x" } });
    clock.advance(1000);
    ledger.operations.transition(op.id, "running");
    clock.advance(2000);
    const done = ledger.operations.transition(op.id, "succeeded", { result: "ok" });
    expect(done).toMatchObject({ requested_by: "U1", state: "succeeded", result: "ok", args: { name: "x" }, server: "demo" });
    expect(done.finished_at! - done.started_at!).toBe(2000);
    expect(() => ledger.operations.transition(op.id, "running")).toThrow(IllegalTransitionError);
    expect(ledger.operations.list({ limit: 5 }).map((o) => o.id)).toEqual([op.id]);
  });
});

describe("queries", () => {
  it("lists newest first with paging, filters by state, and finds expired snapshots", () => {
    const { ledger, server, clock } = withServer();
    for (let i = 0; i < 120; i++) {
      clock.advance(60_000);
      const s = ledger.snapshots.insert({ server_id: server.id, name: `s${i}`, created_by: "U1", expires_at: i < 30 ? clock.now() + 1000 : null });
      ledger.snapshots.transition(s.id, "running");
      ledger.snapshots.transition(s.id, i % 10 === 0 ? "failed" : "done");
    }
    const page1 = ledger.snapshots.list(server.id, { limit: 50, offset: 0 });
    expect(page1.total).toBe(108);
    expect(ledger.snapshots.liveCount(server.id)).toBe(108); // the limit's count: what list shows
    expect(page1.rows[0]!.name).toBe("s119");
    const page3 = ledger.snapshots.list(server.id, { limit: 50, offset: 100 });
    expect(page3.rows).toHaveLength(8);
    expect(ledger.snapshots.list(server.id, { state: "failed", limit: 50, offset: 0 }).total).toBe(12);
    expect(ledger.snapshots.list(server.id, { all: true, limit: 50, offset: 0 }).total).toBe(120);
    clock.advance(60_000);
    expect(ledger.snapshots.expired(clock.now()).map((s) => s.name)).toHaveLength(27); // 30 minus the failed s0, s10, s20
  });

  it("servers: config sync, register, unregister and their refusals", () => {
    const { ledger } = fresh();
    ledger.servers.syncFromConfig([{ name: "a", driver: "archive", settings: {} }, { name: "b", driver: "archive", settings: {} }]);
    ledger.servers.syncFromConfig([{ name: "a", driver: "archive", settings: {} }]);
    expect(ledger.servers.list().map((s) => s.name)).toEqual(["a"]);
    ledger.servers.register({ name: "c", driver: "archive", settings: { paths: ["/srv"] } }, "U1");
    expect(() => ledger.servers.register({ name: "c", driver: "archive", settings: {} }, "U1")).toThrow(/already registered/);
    expect(() => ledger.servers.unregister("a")).toThrow(/comes from the config file/);
    expect(() => ledger.servers.unregister("zzz")).toThrow(/unknown server/);
    ledger.servers.unregister("c");
    expect(ledger.servers.get("c")).toBeUndefined();
  });
});
