import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { pino } from "pino";
import { commandDriver } from "../src/drivers/command/command-module.ts";
import { commandSettingsSchema } from "../src/drivers/command/command-settings.ts";
import type { DriverContext } from "../src/drivers/driver.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { PG_BIN, startPostgres } from "../test/helpers/postgres.ts";
import { median, round } from "./measure.ts";

// npm run bench -- app (the PostgreSQL part; bench/consul-bench.ts is the Consul one): create of a PostgreSQL database through the command
// driver (pg_dump -Fc streamed into fsync'd parts, age-encrypted or not) against `pg_dump -Fc | sha256sum` of the
// same database in the same run, alternated, medians of RUNS. Targets: ≤ 1.10× plain, ≤ 1.25× encrypted.
// pg_dump's own zlib compression is the work on both sides; what snapbot adds is hashing, age and the writes.

const RUNS = Number(process.env.BENCH_APP_RUNS ?? 3);
const MiB = 2 ** 20;

export async function benchAppPg(opts: { dir: string; sizeMiB: number }): Promise<Record<string, number | string>> {
  const root = join(opts.dir, "app-pg");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const pg = await startPostgres(join(root, "pg"));
  try {
    pg.sql("postgres", "CREATE DATABASE app");
    // Rows of hex text: pg_dump -Fc compresses them about 2:1, so both sides do real work on every byte.
    const rows = Math.round((opts.sizeMiB * MiB) / 110);
    pg.sql("app", `CREATE TABLE t(id bigint, a text, b text); INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text) FROM generate_series(1, ${rows}) g`);
    const dbBytes = Number(pg.sql("app", "SELECT pg_database_size('app')"));
    const runner = createLocalRunner();
    const recipient = await identityToRecipient(await generateX25519Identity());
    const settings = commandSettingsSchema.parse({ driver: "command", create: [[`${PG_BIN}/pg_dump`, "-Fc", `--dbname=${pg.url("app")}`]], versions: [] });
    const log = pino({ level: "silent" });
    const driverFor = (sensitive: boolean) =>
      commandDriver.create({ name: "bench", settings }, { runner, storageDir: join(root, "snaps"), fsync: true, log, sensitive, encryption: { recipients: [recipient] } });
    const ctx: DriverContext = { signal: new AbortController().signal, progress: () => {}, log };
    let n = 0;
    const timed = async (sensitive: boolean) => {
      const driver = driverFor(sensitive);
      const t = performance.now();
      const r = await driver.create({ server: "bench", name: `s${++n}`, createdAt: Date.now(), stateful: false }, ctx);
      const s = (performance.now() - t) / 1000;
      await driver.delete({ server: "bench", name: `s${n}`, location: r.location, createdAt: 0 }, ctx);
      return s;
    };
    const baseline = async () => {
      const t = performance.now();
      const p = runner.pipeline([{ cmd: `${PG_BIN}/pg_dump`, args: ["-Fc", `--dbname=${pg.url("app")}`] }, { cmd: "sha256sum", args: [] }]);
      p.stdout.resume();
      await p.done;
      return (performance.now() - t) / 1000;
    };
    await baseline(); // warm the buffer cache for everyone
    const base: number[] = [];
    const plain: number[] = [];
    const sealed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      base.push(await baseline());
      plain.push(await timed(false));
      sealed.push(await timed(true));
    }
    const [b, p, s] = [median(base), median(plain), median(sealed)];
    return {
      "database MiB": round(dbBytes / MiB),
      "pg_dump -Fc | sha256sum s": round(b),
      "snapbot create s (parts, fsync)": round(p),
      "snapbot create s (age-encrypted)": round(s),
      "ratio plain (target ≤ 1.10)": round(p / b),
      "ratio encrypted (target ≤ 1.25)": round(s / b),
      "runs each": `${RUNS} (${base.map(round).join(", ")} | ${plain.map(round).join(", ")} | ${sealed.map(round).join(", ")})`,
    };
  } finally {
    pg.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

// Run directly: node --import tsx bench/app-bench.ts [MiB]
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchAppPg({ dir: process.env.BENCH_DIR ?? "/tmp/snapbot-bench", sizeMiB: Number(process.argv[2] ?? 1024) });
  for (const [k, v] of Object.entries(r)) console.log(`  ${k}  ${v}`);
}
