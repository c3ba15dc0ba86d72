import { createStorageTargets } from "../src/storage/storage-targets.ts";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { pino } from "pino";
import { repoFile } from "./measure.ts";
import { createSqliteLedger } from "../db/sqlite/sqlite-ledger.ts";
import type { Ledger } from "../db/ledger.ts";
import type { ServerRow } from "../db/types.ts";
import { fakeClock } from "../src/clock.ts";
import { runCommand } from "../commands/index.ts";
import { createEngine } from "../src/engine/engine.ts";
import { createJobRunner } from "../src/engine/operations/job-runner.ts";
import { createScheduler } from "../src/engine/schedule/scheduler.ts";
import { loadConfig } from "../src/config/load-config.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { createAlertSink } from "../src/alerts/alert-sink.ts";
import type { SnapshotDriver } from "../src/drivers/driver.ts";
import { snapshotTree, type TreeNode } from "../src/replies/tree-replies.ts";
import { PAGE_SIZE } from "../src/replies/snapshot-replies.ts";
import { registryFor } from "../test/helpers/driver-module.ts";

// `list <server> --tree` of a 50-snapshot tree on a real SQLite ledger, through the command layer: p99 < 5 ms
// (issue 11). The driver is a stand-in with features.trees and no backend to list, so what is timed is the
// command, the ledger read and the drawing, not a hypervisor. Where this build's list does not draw trees
// yet, the same work is timed directly (the ledger read list --tree does, then snapshotTree). Plain `list`
// of the same server is the baseline in the same run.

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const HOUR = 3_600_000;

/** 50 snapshots as a CloudCIX user makes them: mostly a chain, every fifth applied back two steps and branched. */
async function fill(ledger: Ledger, server: ServerRow, n: number, now: number): Promise<void> {
  await ledger.tx(async (t) => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const parent = i === 0 ? null : ids[i % 5 === 0 ? Math.max(0, i - 3) : i - 1]!;
      const created = now - (n - i) * HOUR;
      const origin = i % 7 === 0 ? "external" : "snapbot";
      const row = await t.snapshots.insert({
        server_id: server.id, name: `s${i + 1}`, parent_id: parent, state: "done", origin, created_by: "U1", created_at: created, finished_at: created + 2_000, size: 1 << 20,
      });
      ids.push(row.id);
    }
  });
}

/** What list --tree reads and draws, timed directly when the command cannot draw trees in this build. */
async function treeDirect(ledger: Ledger, server: ServerRow) {
  const { rows } = await ledger.snapshots.list(server.id, { limit: 10_000, offset: 0 });
  const newest = rows[0]?.id; // the current position as the newest, without the ledger's own column
  const nodes: TreeNode[] = rows.map((s) => ({
    id: s.id, name: s.name, parentId: s.parent_id, current: s.id === newest, state: s.state, createdAt: s.created_at, origin: s.origin,
  }));
  return snapshotTree(nodes, 1, server.name);
}

export async function benchTree(o: { dir: string; snapshots?: number; runs?: number }): Promise<Record<string, number | string>> {
  const n = o.snapshots ?? 50;
  const runs = o.runs ?? 2000;
  const now = Date.UTC(2026, 10, 1);
  const path = join(o.dir, `tree-${n}.db`);
  rmSync(path, { force: true });
  const clock = fakeClock(now);
  const log = pino({ level: "silent" });
  const config = { ...loadConfig({ SNAPBOT_CONFIG: repoFile("test/fixtures/config/minimal.yml") }), ledger: { backend: "sqlite" as const, path } };
  const ledger = createSqliteLedger(path, clock);
  await ledger.servers.syncFromConfig([{ name: "vm", driver: "tree-bench", settings: { limit: 100 } }]);
  const server = (await ledger.servers.get("vm"))!;
  await fill(ledger, server, n, now);
  const driver: SnapshotDriver = {
    kind: "tree-bench",
    features: { trees: true, limit: true },
    create: async () => ({ location: null, size: null, checksum: null, parts: [] }),
    delete: async () => {},
  };
  const drivers = registryFor(driver);
  const jobs = createJobRunner({ concurrency: 1, timeoutMs: 60_000, clock });
  const alerts = createAlertSink({ ledger, chat: silentChat, log, defaultChannel: null });
  const engine = createEngine({ config, ledger, jobs, drivers, clock, log, alerts, chat: silentChat, targets: createStorageTargets(config.storage, { fsync: false, env: {}, log }) });
  const scheduler = createScheduler({ ledger, clock, log, alerts, engine });
  const deps = { config, ledger, engine, drivers, clock, log, chat: silentChat, scheduler };
  const ask = (text: string) => runCommand(deps, { user: "U1", channel: "C1", text });

  const probe = await ask("list vm --tree");
  const wired = probe.tone !== "error";
  const tree = wired ? () => ask("list vm --tree") : () => treeDirect(ledger, server);
  const first = await tree();
  if (first.tone === "error" || (first.monospace?.length ?? 0) < Math.min(n, PAGE_SIZE))
    throw new Error(`list vm --tree returned ${first.title}`);

  const treeTimes: number[] = [];
  const listTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    await tree();
    treeTimes.push(performance.now() - t);
    t = performance.now();
    await ask("list vm");
    listTimes.push(performance.now() - t);
  }
  await ledger.close();
  const p99 = percentile(treeTimes, 99);
  return {
    ledger: `${n} snapshots in one tree (SQLite file), ${runs} runs`,
    measured: wired ? "list vm --tree through the command layer" : `ledger read + snapshotTree (this build's list says: ${probe.title})`,
    "tree p50 ms": +percentile(treeTimes, 50).toFixed(3),
    "tree p99 ms": +p99.toFixed(3),
    "list p99 ms (baseline)": +percentile(listTimes, 99).toFixed(3),
    "tree p99 / list p99": +(p99 / percentile(listTimes, 99)).toFixed(2),
    "tree p99 target 5 ms": p99 < 5 ? "met" : "MISSED",
  };
}
