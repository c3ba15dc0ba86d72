import { createStorageTargets } from "../../../src/storage/storage-targets.ts";
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { pino } from "pino";
import { createSqliteLedger } from "../../../db/sqlite/sqlite-ledger.ts";
import type { Ledger } from "../../../db/ledger.ts";
import { fileSchema } from "../../../src/config/schema.ts";
import type { Config } from "../../../src/config/load-config.ts";
import { fakeClock } from "../../../src/clock.ts";
import { createAlertSink } from "../../../src/alerts/alert-sink.ts";
import { createJobRunner } from "../../../src/engine/operations/job-runner.ts";
import { createEngine } from "../../../src/engine/engine.ts";
import type { BackendSnapshot, DriverFeatures, SnapshotDriver } from "../../../src/drivers/driver.ts";
import { parseKeep } from "../../../src/retention/keep-policy.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { registryFor } from "../../helpers/driver-module.ts";

// The limit through the real engine, job runner, alert sink and a real SQLite ledger; the driver is the
// smallest one with features.limit (backends with a limit are LXD and qemu, which need their own hosts).

const dir = tempDir("snapbot-limit-");
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 3, 1, 12);
const asker = { user: "U1", channel: "C1" };
let n = 0;

function fakeDriver(features: DriverFeatures | undefined, listBackend?: () => BackendSnapshot[]) {
  const deleted: string[] = [];
  const driver: SnapshotDriver = {
    kind: "fake",
    features,
    create: async () => ({ location: null, size: 1, checksum: null, parts: [] }),
    delete: async (snap) => void deleted.push(snap.name),
    ...(listBackend ? { listBackend: async () => listBackend() } : {}),
  };
  return { driver, deleted };
}

async function setup(limit: number, driver: SnapshotDriver) {
  const clock = fakeClock(T0);
  const dbPath = join(dir, `ledger-${++n}.db`);
  const ledger = createSqliteLedger(dbPath, clock);
  await ledger.servers.syncFromConfig([{ name: "vm", driver: "fake", settings: { limit } }]);
  const server = (await ledger.servers.get("vm"))!;
  const log = pino({ level: "silent" });
  const config: Config = {
    ...fileSchema.parse({ storage: { path: dir }, servers: {} }),
    source: "test", demo: false, ledger: { backend: "sqlite", path: dbPath }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: null,
  };
  const chat = recordingChat();
  const alerts = createAlertSink({ ledger, chat: chat.port, log, defaultChannel: "console" });
  const drivers = registryFor(driver);
  const jobs = createJobRunner({ concurrency: 2, timeoutMs: 60_000, clock });
  const engine = createEngine({ config, ledger, jobs, drivers, clock, log, alerts, chat: chat.port, targets: createStorageTargets(config.storage, { fsync: false, env: {}, log }) });
  /** A done snapshot written straight into the ledger, `hours` old, expired `expiredHoursAgo` ago (or never). */
  const row = (name: string, hours: number, o: { parent?: number; expiredHoursAgo?: number } = {}) =>
    ledger.snapshots.insert({
      server_id: server.id, name, created_by: "U1", state: "done", parent_id: o.parent ?? null,
      created_at: T0 - hours * HOUR, finished_at: T0 - hours * HOUR, expires_at: o.expiredHoursAgo === undefined ? null : T0 - o.expiredHoursAgo * HOUR,
    });
  /** What commands/create.ts does: room first, then the create. */
  const create = async (name: string) => {
    const room = await engine.makeRoom(server, asker);
    await (await engine.create({ server, name, ...asker })).job.done;
    return room;
  };
  const state = async (name: string) => (await ledger.snapshots.find(server.id, name))!.state;
  return { ledger, server, engine, row, create, state };
}

const openAlerts = async (ledger: Ledger) => (await ledger.alerts.listOpen()).map((a) => `${a.kind}: ${a.message.split("\n")[0]}`);

describe("the snapshot limit (features.limit)", () => {
  it("refuses a create at the limit when nothing has expired, and writes nothing", async () => {
    const fake = fakeDriver({ limit: true });
    const t = await setup(3, fake.driver);
    for (const [i, name] of ["s1", "s2", "s3"].entries()) await t.row(name, 3 - i);
    await expect(t.create("s4")).rejects.toThrow(
      "vm has 3 snapshots, its limit is 3, and none has expired: delete one first (list vm) or raise limit: for it in the config",
    );
    expect(await t.ledger.snapshots.find(t.server.id, "s4")).toBeUndefined();
    expect(fake.deleted).toEqual([]);
  });

  it("comes from features.limit, not from being able to list the backend", async () => {
    // Lists its backend (as an archive over a backend might) but declares no limit: 3 of 3 is no reason to refuse.
    const held = ["s1", "s2", "s3"].map((name, i): BackendSnapshot => ({ name, createdAt: T0 - (3 - i) * HOUR, expiresAt: null, stateful: false, size: 1 }));
    const listing = fakeDriver(undefined, () => held);
    const t = await setup(3, listing.driver);
    for (const [i, name] of ["s1", "s2", "s3"].entries()) await t.row(name, 3 - i);
    expect(await t.create("s4")).toEqual({ pruned: null });
    expect(await t.state("s4")).toBe("done");
  });

  it("at the limit prunes the expired leaf that expired first, never the expired parent before it", async () => {
    const fake = fakeDriver({ limit: true });
    const t = await setup(4, fake.driver);
    const s1 = await t.row("s1", 10, { expiredHoursAgo: 5 }); // expired first, but the parent of s2 and s3
    await t.row("s2", 9, { parent: s1.id, expiredHoursAgo: 3 });
    await t.row("s3", 8, { parent: s1.id, expiredHoursAgo: 1 });
    await t.row("s4", 7);
    expect(await t.create("s5")).toEqual({ pruned: "s2" });
    expect(fake.deleted).toEqual(["s2"]);
    expect([await t.state("s1"), await t.state("s2"), await t.state("s3"), await t.state("s5")]).toEqual(["done", "deleted", "done", "done"]);
  });

  it("refuses rather than prune an expired parent, saying so; with parents=prune in the schedule it may go", async () => {
    const fake = fakeDriver({ limit: true });
    const t = await setup(3, fake.driver);
    const s1 = await t.row("s1", 10, { expiredHoursAgo: 5 });
    await t.row("s2", 9, { parent: s1.id });
    await t.row("s3", 8, { parent: s1.id });
    await expect(t.create("s4")).rejects.toThrow(
      "vm has 3 snapshots, its limit is 3, and the expired ones (s1) have children, which are not pruned for room: " +
        "delete one first (list vm) or raise limit: for it in the config, or add parents=prune to its schedule's --keep",
    );
    expect(fake.deleted).toEqual([]);
    const keep = parseKeep("daily=7,parents=prune");
    await t.ledger.schedules.set({ server_id: t.server.id, cron: "@daily", pattern: null, expiry: null, keep, native: false, warn_after_ms: null, crit_after_ms: null, created_by: "U1" });
    expect(await t.create("s4")).toEqual({ pruned: "s1" });
    expect(fake.deleted).toEqual(["s1"]);
  });

  it("counts a parent whose children are all gone as a leaf", async () => {
    const fake = fakeDriver({ limit: true });
    const t = await setup(2, fake.driver);
    const s1 = await t.row("s1", 10, { expiredHoursAgo: 5 });
    const s2 = await t.row("s2", 9, { parent: s1.id });
    await t.ledger.snapshots.transition(s2.id, "deleting");
    await t.ledger.snapshots.transition(s2.id, "deleted", { deleted_at: T0, deleted_by: "U1" });
    await t.row("s3", 8);
    expect(await t.create("s4")).toEqual({ pruned: "s1" });
  });

  it("raises limit_near once a create brings the server to 90% of its limit, not before", async () => {
    const fake = fakeDriver({ limit: true });
    const t = await setup(10, fake.driver);
    for (let i = 1; i <= 7; i++) await t.row(`s${i}`, 20 - i);
    await t.create("s8"); // 8 of 10
    await t.engine.idle();
    expect(await openAlerts(t.ledger)).toEqual([]);
    await t.create("s9"); // 9 of 10: 90%
    await expect.poll(() => openAlerts(t.ledger)).toEqual(["limit_near: vm holds 9 of its 10 snapshots"]);
  });
});
