import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { openDb } from "../db/sqlite/open-db.ts";
import { parseKeep } from "../src/retention/keep-policy.ts";
import { round, siblingArgv } from "./measure.ts";

// 10,000 schedules over 10,000 servers with 100 snapshots each (1,000,000 rows): the bot's start-up time
// and memory against a bare Node process, retention planning against reading the same rows bare, and
// node-cron firing all 10,000 in the same minute.

const SERVERS = 10_000;
const PER_SERVER = 100;
const DAY = 86_400_000;

function fill(path: string, dir: string): void {
  if (existsSync(path)) return;
  const db = openDb(path); // the SQLite file itself: a million rows in one transaction, not through the repositories
  const now = Date.now();
  const keep = JSON.stringify(parseKeep("last=100,daily=7,weekly=4,monthly=6")); // plans everything, removes nothing
  const settings = JSON.stringify({ paths: [join(dir, "sched-src")] });
  db.transaction(() => {
    const addServer = db.prepare("INSERT INTO servers (name, driver, settings, source, created_at) VALUES (?, 'archive', ?, 'registered', ?)");
    const addSchedule = db.prepare("INSERT INTO schedules (server_id, cron, keep, created_by, created_at, last_run_at) VALUES (?, ?, ?, 'bench', ?, ?)");
    const addSnap = db.prepare(`INSERT INTO snapshots (server_id, name, state, origin, location, size, checksum, created_by, created_at, finished_at)
      VALUES (?, ?, ?, 'schedule', ?, 1048576, 'sha256:0', 'scheduler', ?, ?)`);
    for (let s = 1; s <= SERVERS; s++) {
      addServer.run(`srv-${s}`, settings, now - 200 * DAY);
      addSchedule.run(s, `${s % 60} 3 * * *`, keep, now - 200 * DAY, now - DAY);
      for (let k = 0; k < PER_SERVER; k++) {
        const t = now - (PER_SERVER - k) * DAY;
        addSnap.run(s, `snap-${k}`, "done", `/nowhere/srv-${s}/snap-${k}`, t, t + 60_000);
      }
    }
  })();
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

export async function benchScheduler(o: { dir: string }): Promise<Record<string, number | string>> {
  const db = join(o.dir, `scheduler-${SERVERS}.db`);
  const t = performance.now();
  fill(db, o.dir);
  const fillS = (performance.now() - t) / 1000;
  const work = join(o.dir, "sched-run.db");
  for (const f of [work, `${work}-wal`, `${work}-shm`]) rmSync(f, { force: true });
  await execa("cp", [db, work]);
  await execa("sync"); // the copy's writeback must not run during the timed part
  const bare = JSON.parse((await execa("node", ["-e", "console.log(JSON.stringify({ rss: process.memoryUsage().rss / 2 ** 20 }))"])).stdout) as { rss: number };
  const { stdout } = await execa("node", [...siblingArgv("scheduler-bench-child"), JSON.stringify({ db: work, dir: o.dir })]);
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, number>;
  rmSync(join(o.dir, "sched-storage"), { recursive: true, force: true });
  return {
    "ledger fill s (once, reused)": round(fillS),
    "schedules loaded": r.schedules!,
    "start-up ms (open ledger, reconcile, load schedules; target < 2000)": round(r.startupMs!),
    "RSS MiB bare node": round(bare.rss),
    "RSS MB after start-up (target < 200)": round((r.rssLoadedMiB! * 2 ** 20) / 1e6),
    "peak RSS MB (firing 10,000 at once)": round((r.maxRssMiB! * 2 ** 20) / 1e6),
    "bare read of the 1M rows ms": round(r.bareReadMs!),
    "retention plan, all schedules ms (target < 1000)": round(r.planMs!),
    "ratio plan/bare read": round(r.planMs! / r.bareReadMs!),
    "rows planned": r.plannedRows!,
    "schedules fired in the minute": r.fired!,
    "fired p50 ms after the minute": round(r.firedP50Ms!),
    "fired max ms after the minute (target < 1000)": round(r.firedMaxMs!),
  };
}
