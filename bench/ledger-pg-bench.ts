import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { createApp } from "../src/app.ts";
import { systemClock } from "../src/clock.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import type { Config } from "../src/config/load-config.ts";
import { fileSchema } from "../src/config/schema.ts";
import { runCommand } from "../commands/index.ts";
import { createPostgresLedger } from "../db/postgres/postgres-ledger.ts";
import { startPostgres } from "../test/helpers/postgres.ts";
import { round } from "./measure.ts";

// npm run bench -- ledger, the PostgreSQL part: the same 1,000,000 snapshots over 10,000 servers as the SQLite part,
// on a PostgreSQL 15 this run starts (fsync off, as test servers run); `list <server>` through the command layer
// against the bare indexed query on the same connection pool's server; then 10,000 schedules due in one minute,
// fired by the bot's own scheduler on this ledger: when the last run was recorded, after the minute.

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

export async function benchLedgerPg(o: { dir: string; servers?: number; snapshots?: number; lists?: number }): Promise<Record<string, number | string>> {
  const servers = o.servers ?? 10_000;
  const snapshots = o.snapshots ?? 1_000_000;
  const root = join(o.dir, "ledger-pg");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, "src"), { recursive: true });
  writeFileSync(join(root, "src", "hosts"), "127.0.0.1 localhost\n");
  const server = await startPostgres(join(root, "pg"));
  try {
    server.sql("postgres", "CREATE DATABASE ledger");
    const url = server.url("ledger");
    await (await createPostgresLedger(url, systemClock)).close(); // the schema, by the ledger's own migrations
    const now = Date.now();
    const perServer = snapshots / servers;
    const t0 = performance.now();
    const settings = JSON.stringify({ paths: [join(root, "src")] });
    server.sql("ledger", `INSERT INTO servers (name, driver, settings, source, created_at) SELECT 'srv-' || g, 'archive', '${settings}', 'registered', ${now} FROM generate_series(1, ${servers}) g`);
    // The SQLite part's rows: server i % N, the k-th an hour apart, a few failed and broken, a third with an expiry.
    server.sql(
      "ledger",
      `INSERT INTO snapshots (server_id, name, state, origin, location, size, checksum, checksums, created_by, created_at, finished_at, expires_at)
       SELECT (i % ${servers}) + 1, 'snap-' || (i / ${servers}),
              CASE WHEN i % 97 = 0 THEN 'failed' WHEN i % 89 = 0 THEN 'broken' ELSE 'done' END, 'snapbot',
              '/data/srv-' || ((i % ${servers}) + 1) || '/snap-' || (i / ${servers}), 1048576 + i, 'sha256:' || lpad(to_hex(i), 64, '0'),
              '[{"file":".parts/part-000000","size":' || (1048576 + i) || ',"sha256":"' || lpad(to_hex(i), 64, '0') || '"}]', 'U1',
              ${now} - (${perServer} - i / ${servers}) * 3600000, ${now} - (${perServer} - i / ${servers}) * 3600000 + 60000,
              CASE WHEN i % 3 = 0 THEN ${now} - (${perServer} - i / ${servers}) * 3600000 + (i % 31) * 86400000 END
       FROM generate_series(0::bigint, ${snapshots - 1}) i`,
    );
    server.sql("ledger", "ANALYZE");
    const fillS = (performance.now() - t0) / 1000;

    const log = pino({ level: "silent" });
    const parsed = fileSchema.parse({ storage: { path: join(root, "storage") }, engine: { concurrency: 2, fsync: false } });
    const config: Config = { ...parsed, source: "bench", demo: false, ledger: { backend: "postgres", url }, logLevel: "silent", chat: { mode: "console", port: 0 }, metricsPort: null };
    const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
    const bare = new pg.Client({ connectionString: url });
    await bare.connect();
    try {
      const lists = o.lists ?? 2000;
      const bareTimes: number[] = [];
      const listTimes: number[] = [];
      for (let i = 0; i < lists; i++) {
        const s = 1 + ((i * 7919) % servers);
        let t = performance.now();
        await bare.query("SELECT * FROM snapshots WHERE server_id = $1 ORDER BY created_at DESC, id DESC LIMIT 50", [s]);
        bareTimes.push(performance.now() - t);
        t = performance.now();
        const reply = await runCommand(app, { user: "U1", channel: "C1", text: `/snapshot list srv-${s}` });
        listTimes.push(performance.now() - t);
        if (!reply.table || reply.table.rows.length !== 50) throw new Error(`list srv-${s} returned ${reply.title}`);
      }
      const p99 = percentile(listTimes, 99);

      // 10,000 schedules due at the next minute: the scheduler (this process leads) fires them at its tick.
      while (new Date().getUTCSeconds() > 40) await new Promise((r) => setTimeout(r, 500));
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      await bare.query(
        `INSERT INTO schedules (server_id, cron, created_by, created_at, last_run_at, warn_after_ms, crit_after_ms)
         SELECT id, '* * * * *', 'bench', $1, $1, 2 * 86400000, 4 * 86400000 FROM servers`,
        [minute],
      );
      await app.start();
      const boundary = minute + 60_000;
      await new Promise((r) => setTimeout(r, boundary - Date.now() + 15_000));
      const fired = (await bare.query<{ n: string; last: string | null }>("SELECT count(*) AS n, max(created_at) AS last FROM operations WHERE kind = 'create' AND requested_by = 'scheduler' AND created_at >= $1", [boundary])).rows[0]!;
      const lastMs = fired.last === null ? -1 : Number(fired.last) - boundary;
      await app.cancelAll();
      return {
        ledger: `${snapshots} snapshots / ${servers} servers on PostgreSQL 15 (filled in ${fillS.toFixed(1)} s)`,
        "list p50 ms": round(percentile(listTimes, 50)),
        "list p99 ms": round(p99),
        "bare query p99 ms": round(percentile(bareTimes, 99)),
        "list p99 / bare p99": round(p99 / percentile(bareTimes, 99)),
        "list p99 target 10 ms": p99 < 10 ? "met" : "MISSED",
        "schedules fired in the minute": Number(fired.n),
        "last run recorded after the minute, ms": lastMs,
        "last run target < 2000 ms": Number(fired.n) === servers && lastMs >= 0 && lastMs < 2000 ? "met" : "MISSED",
      };
    } finally {
      await bare.end();
      await app.close();
    }
  } finally {
    server.stop();
  }
}
