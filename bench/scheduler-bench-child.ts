import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { createApp } from "../src/app.ts";
import { systemClock } from "../src/clock.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import type { Config } from "../src/config/load-config.ts";
import { fileSchema } from "../src/config/schema.ts";
import { openDb } from "../db/sqlite/open-db.ts";
import { median } from "./measure.ts";

// One bot process on a ledger of 10,000 scheduled servers and 1,000,000 snapshots (bench/scheduler-bench.ts
// fills it): start-up time and memory, the retention planning pass, then node-cron's real minute tick
// firing all 10,000 schedules at once. Prints one JSON line.

export async function schedulerBenchChild(o: { db: string; dir: string }): Promise<Record<string, number>> {
  const log = pino({ level: "silent" });
  const src = join(o.dir, "sched-src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "hosts"), "127.0.0.1 localhost\n");
  const parsed = fileSchema.parse({ storage: { path: join(o.dir, "sched-storage") }, engine: { concurrency: 2, fsync: false } });
  const config: Config = { ...parsed, source: "bench", demo: false, ledger: { backend: "sqlite", path: o.db }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: null };
  const rssBase = process.memoryUsage().rss;
  const t0 = performance.now();
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
  const startupMs = performance.now() - t0;
  const loaded = app.scheduler.entries().length;
  const rssLoaded = process.memoryUsage().rss;

  // The SQLite file itself, on a second connection: the bare baseline read, the schedules moved to the next minute,
  // and the operations the tick recorded (the app's ledger has no raw handle).
  const raw = openDb(o.db);

  // Retention planning over every schedule's snapshots, against reading the same rows bare.
  const bareStmt = raw.prepare("SELECT id, name, created_at, state FROM snapshots WHERE state IN ('done','broken')").raw();
  const bare: number[] = [];
  const plan: number[] = [];
  let planned = { servers: 0, candidates: 0, remove: 0 };
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    for (const _ of bareStmt.iterate()); // read, not kept: the baseline is the reading
    bare.push(performance.now() - t);
    t = performance.now();
    planned = await app.scheduler.retention.planAll();
    plan.push(performance.now() - t);
  }

  // Every schedule due at the next minute; node-cron's own tick fires them.
  while (new Date().getUTCSeconds() > 40) await new Promise((r) => setTimeout(r, 500));
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  // Every minute from now on; freshness thresholds of days, so the firing is not mixed with 10,000 stale alerts.
  raw.prepare("UPDATE schedules SET last_run_at = ?, cron = '* * * * *', warn_after_ms = 2 * 86400000, crit_after_ms = 4 * 86400000 WHERE removed_at IS NULL").run(minute);
  await app.scheduler.load();
  await app.scheduler.start();
  const boundary = minute + 60_000;
  await new Promise((r) => setTimeout(r, boundary - Date.now() + 5_000));
  const fired = raw
    .prepare("SELECT created_at FROM operations WHERE kind = 'create' AND requested_by = 'scheduler' AND created_at >= ?")
    .pluck()
    .all(boundary) as number[];
  raw.close();
  const lat = fired.map((t) => t - boundary).sort((a, b) => a - b);
  const mem = process.memoryUsage();
  if (process.env.BENCH_DEBUG) console.error(JSON.stringify({ heapUsedMiB: mem.heapUsed / 2 ** 20, heapTotalMiB: mem.heapTotal / 2 ** 20, externalMiB: mem.external / 2 ** 20, arrayBuffersMiB: mem.arrayBuffers / 2 ** 20, rssMiB: mem.rss / 2 ** 20 }));
  return {
    schedules: loaded,
    startupMs,
    rssBaseMiB: rssBase / 2 ** 20,
    rssLoadedMiB: rssLoaded / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    bareReadMs: median(bare),
    planMs: median(plan),
    plannedServers: planned.servers,
    plannedRows: planned.candidates,
    plannedRemove: planned.remove,
    fired: fired.length,
    tickLagMs: (app.scheduler.lastTick() ?? 0) - boundary,
    firedP50Ms: lat[Math.floor(lat.length / 2)] ?? -1,
    firedMaxMs: lat.at(-1) ?? -1,
  };
}

if (/\bscheduler-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  const r = await schedulerBenchChild(JSON.parse(process.argv[2] ?? "{}") as { db: string; dir: string });
  console.log(JSON.stringify(r));
  process.exit(0); // the queued creates are not what is measured
}
