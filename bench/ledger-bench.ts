import { createStorageTargets } from "../src/storage/storage-targets.ts";
import { join } from "node:path";
import { repoFile } from "./measure.ts";
import { createScheduler } from "../src/engine/schedule/scheduler.ts";
import { existsSync } from "node:fs";
import { pino } from "pino";
import { openDb } from "../db/sqlite/open-db.ts";
import { sqliteLedger } from "../db/sqlite/sqlite-ledger.ts";
import { snapshotRepo } from "../db/sqlite/snapshot-repo.ts";
import { fakeClock } from "../src/clock.ts";
import { runCommand } from "../commands/index.ts";
import { createEngine } from "../src/engine/engine.ts";
import { createJobRunner } from "../src/engine/operations/job-runner.ts";
import { createDriverRegistry } from "../src/drivers/registry.ts";
import { BUILTIN_DRIVERS } from "../src/drivers/index.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { loadConfig } from "../src/config/load-config.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { createAlertSink } from "../src/alerts/alert-sink.ts";

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/** Fills a ledger with `snapshots` rows over `servers` servers (once; reused when present). */
function fill(path: string, servers: number, snapshots: number, now: number): void {
  const db = openDb(path, () => now); // the SQLite file itself: a million rows in one transaction, not through the repositories
  const have = (db.prepare("SELECT count(*) AS n FROM snapshots").get() as { n: number }).n;
  if (have >= snapshots) {
    db.close();
    return;
  }
  const addServer = db.prepare("INSERT INTO servers (name, driver, settings, source, created_at) VALUES (?, 'archive', '{\"paths\":[\"/srv\"]}', 'registered', ?)");
  const addSnap = db.prepare(`INSERT INTO snapshots (server_id, name, state, origin, location, size, checksum, checksums, created_by, created_at, finished_at, expires_at)
    VALUES (?, ?, ?, 'snapbot', ?, ?, ?, ?, 'U1', ?, ?, ?)`);
  const perServer = snapshots / servers;
  db.transaction(() => {
    for (let s = 1; s <= servers; s++) addServer.run(`srv-${s}`, now);
    for (let i = 0; i < snapshots; i++) {
      const server = (i % servers) + 1;
      const k = Math.floor(i / servers);
      const created = now - (perServer - k) * 3_600_000;
      const state = i % 97 === 0 ? "failed" : i % 89 === 0 ? "broken" : "done";
      const expires = i % 3 === 0 ? created + (i % 31) * 86_400_000 : null; // a third carry an expiry, 0–30 days out
      addSnap.run(server, `snap-${k}`, state, `/data/srv-${server}/snap-${k}`, 1_048_576 + i, `sha256:${i.toString(16).padStart(64, "0")}`,
        `[{"file":".parts/part-000000","size":${1_048_576 + i},"sha256":"${i.toString(16).padStart(64, "0")}"}]`, created, created + 60_000, expires);
    }
  })();
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

export async function benchLedger(o: { dir: string; servers?: number; snapshots?: number; lists?: number; pairs?: number }): Promise<Record<string, number | string>> {
  const servers = o.servers ?? 10_000;
  const snapshots = o.snapshots ?? 1_000_000;
  const now = Date.UTC(2026, 10, 1);
  const path = join(o.dir, `ledger-v3-${servers}-${snapshots}.db`);
  const t0 = performance.now();
  const reused = existsSync(path);
  fill(path, servers, snapshots, now);
  const fillS = (performance.now() - t0) / 1000;

  const clock = fakeClock(now);
  const log = pino({ level: "silent" });
  const config = { ...loadConfig({ SNAPBOT_CONFIG: repoFile("test/fixtures/config/minimal.yml") }), ledger: { backend: "sqlite" as const, path } };
  const db = openDb(path, () => clock.now());
  const ledger = sqliteLedger(db, clock); // the Ledger the app uses, and its connection for the bare baseline query
  const drivers = createDriverRegistry(BUILTIN_DRIVERS, { runner: createLocalRunner(log), storageDir: o.dir, fsync: false, log });
  const jobs = createJobRunner({ concurrency: 1, timeoutMs: 60_000, clock });
  const alerts = createAlertSink({ ledger, chat: silentChat, log, defaultChannel: null });
  const engine = createEngine({ config, ledger, jobs, drivers, clock, log, alerts, chat: silentChat, targets: createStorageTargets(config.storage, { fsync: false, env: {}, log }) });
  const scheduler = createScheduler({ ledger, clock, log, alerts, engine });
  const deps = { config, ledger, engine, drivers, clock, log, chat: silentChat, scheduler };

  // Baseline in the same process: the bare indexed query for one server's first page, no command layer.
  const bare = db.prepare("SELECT * FROM snapshots WHERE server_id = ? ORDER BY created_at DESC, id DESC LIMIT 50");
  const lists = o.lists ?? 2000;
  const bareTimes: number[] = [];
  const listTimes: number[] = [];
  for (let i = 0; i < lists; i++) {
    const s = 1 + ((i * 7919) % servers);
    let t = performance.now();
    bare.all(s);
    bareTimes.push(performance.now() - t);
    t = performance.now();
    const reply = await runCommand(deps, { user: "U1", channel: "C1", text: `/snapshot list srv-${s}` });
    listTimes.push(performance.now() - t);
    if (!reply.table || reply.table.rows.length !== 50) throw new Error(`list srv-${s} returned ${reply.title}`);
  }
  // And the move to the async interface: the same repository call, synchronous (as callers made it before) and
  // through the Ledger's promise, in pairs on the same server (its pages warmed by the bare query first), in turns
  // so neither is always the second to read them. Apart from the command-layer lists above, whose garbage would
  // land in whichever call the collector happened to stop; 20,000 pairs so the p99 is 200 samples, not 20.
  const syncRepo = snapshotRepo(db, () => clock.now());
  const syncTimes: number[] = [];
  const asyncTimes: number[] = [];
  const pairs = o.pairs ?? 20_000;
  for (let i = 0; i < pairs; i++) {
    const s = 1 + ((i * 7919) % servers);
    bare.all(s);
    const pair = [
      async () => {
        const t1 = performance.now();
        syncRepo.list(s, { limit: 50, offset: 0 });
        syncTimes.push(performance.now() - t1);
      },
      async () => {
        const t1 = performance.now();
        await ledger.snapshots.list(s, { limit: 50, offset: 0 });
        asyncTimes.push(performance.now() - t1);
      },
    ];
    for (const run of i % 2 ? pair.reverse() : pair) await run();
  }
  // Retention's read (every expired snapshot, ~185,000 rows), through the Ledger and through the synchronous
  // repository, alternated 5 times each: the medians (one read swings by a fifth with the page cache and the heap).
  const at = now + 15 * 86_400_000;
  const retentionTimes: number[] = [];
  const retentionSyncTimes: number[] = [];
  let expired: unknown[] = [];
  for (let i = 0; i < 5; i++) {
    let t1 = performance.now();
    expired = await ledger.snapshots.expired(at);
    retentionTimes.push(performance.now() - t1);
    t1 = performance.now();
    syncRepo.expired(at);
    retentionSyncTimes.push(performance.now() - t1);
  }
  const retentionMs = percentile(retentionTimes, 50);
  await ledger.close();
  const p99 = percentile(listTimes, 99);
  return {
    ledger: `${snapshots} snapshots / ${servers} servers${reused ? " (reused)" : ` (filled in ${fillS.toFixed(1)} s)`}`,
    "list p50 ms": +percentile(listTimes, 50).toFixed(3),
    "list p99 ms": +p99.toFixed(3),
    "bare query p99 ms": +percentile(bareTimes, 99).toFixed(3),
    "list p99 / bare p99": +(p99 / percentile(bareTimes, 99)).toFixed(2),
    "list p99 target 5 ms": p99 < 5 ? "met" : "MISSED",
    "snapshots.list p99 ms, synchronous repository": +percentile(syncTimes, 99).toFixed(3),
    "snapshots.list p99 ms, async Ledger": +percentile(asyncTimes, 99).toFixed(3),
    "async / synchronous p99 (target ≤ 1.2)": +(percentile(asyncTimes, 99) / percentile(syncTimes, 99)).toFixed(2),
    "async / synchronous p50": +(percentile(asyncTimes, 50) / percentile(syncTimes, 50)).toFixed(2),
    "async / synchronous pairs": pairs,
    "retention rows": expired.length,
    "retention ms (median of 5)": +retentionMs.toFixed(1),
    "retention async / synchronous (median of 5 each)": +(retentionMs / percentile(retentionSyncTimes, 50)).toFixed(2),
    "retention target 1000 ms": retentionMs < 1000 ? "met" : "MISSED",
  };
}
