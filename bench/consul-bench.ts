import { createWriteStream, existsSync, renameSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { PassThrough } from "node:stream";
import { createGzip } from "node:zlib";
import { execa } from "execa";
import { pino } from "pino";
import { createConsulDriver } from "../src/drivers/consul/consul-driver.ts";
import { consulSettingsSchema } from "../src/drivers/consul/consul-settings.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { raftMeta, writeArchive } from "../test/helpers/consul-archive.ts";
import { measureDriver, median, round, siblingArgv } from "./measure.ts";

// create of a 512 MiB Consul snapshot through snapbot's consul driver (GET /v1/snapshot, Consul's archive checks
// on the way: gunzip + tar + SHA-256 of state.bin, then the stored-snapshot kit: hashed parts, manifest) against
// `curl …/v1/snapshot | sha256sum` of the same archive from the same local Consul server, in its own process.
// Runs alternate floor / create; the ratio is the median of per-run ratios (target ≤ 1.10). Runs with
// `npm run bench -- app` (BENCH_CONSUL_MIB, BENCH_CONSUL_RUNS, BENCH_DIR).

const MiB = 2 ** 20;

async function ensureArchive(dir: string, sizeMiB: number): Promise<string> {
  const file = join(dir, `consul-${sizeMiB}MiB.snap`);
  if (existsSync(file)) return file;
  const size = sizeMiB * MiB;
  async function* state() {
    // A fresh buffer each time: the archive writer's stream still holds the last one (reusing it corrupts the archive).
    for (let sent = 0; sent < size; sent += 4 * MiB) yield randomBytes(Math.min(4 * MiB, size - sent));
  }
  const tar = new PassThrough();
  const written = pipeline(tar, createGzip({ level: 1 }), createWriteStream(`${file}.tmp`));
  await writeArchive(tar, raftMeta(1042, 3, size), state());
  tar.end();
  await written;
  renameSync(`${file}.tmp`, file);
  return file;
}

export async function benchConsul(opts: { dir: string; sizeMiB?: number; runs?: number }): Promise<Record<string, number | string>> {
  const sizeMiB = opts.sizeMiB ?? 512;
  const runs = opts.runs ?? 7; // per-run ratios spread widely here (the create writes 512 MiB to disk, the floor nothing): 7 steady the median
  const archive = await ensureArchive(opts.dir, sizeMiB);
  const server = execa(process.execPath, [...siblingArgv("consul-bench-server"), archive], { stdin: "pipe", stdout: "pipe" });
  const url = await new Promise<string>((resolve) => server.stdout!.once("data", (c: Buffer) => resolve(c.toString().trim())));
  const storage = join(opts.dir, "consul-storage");
  const log = pino({ level: "silent" });
  const settings = consulSettingsSchema.parse({ driver: "consul", address: url, token_env: "T", sensitive: false });
  const deps = { runner: createLocalRunner(log), storageDir: storage, fsync: false, log, env: { T: "bench-token" }, sensitive: false };
  const floors: number[] = [];
  const creates: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await execa("bash", ["-c", 'set -o pipefail; curl -sSf -H "X-Consul-Token: bench-token" "$1/v1/snapshot" | sha256sum > /dev/null', "_", url]);
      floors.push((performance.now() - t) / 1000);
      await rm(storage, { recursive: true, force: true });
      const r = await measureDriver(createConsulDriver({ ...settings, name: "bench" }, deps), log, "create");
      creates.push(r.seconds as number);
    }
  } finally {
    server.stdin!.end();
    await server.catch(() => undefined);
    await rm(storage, { recursive: true, force: true });
  }
  const ratios = creates.map((c, i) => c / floors[i]!);
  return {
    "state.bin MiB": sizeMiB,
    runs,
    "floor curl | sha256sum s": round(median(floors)),
    "create through snapbot s": round(median(creates)),
    "ratio create/floor (target ≤ 1.10)": round(median(ratios)),
    "ratio per run": ratios.map(round).join(" "),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.env.BENCH_DIR ?? "/tmp/snapbot-bench";
  console.log(await benchConsul({ dir, sizeMiB: Number(process.env.BENCH_CONSUL_MIB ?? 512), runs: Number(process.env.BENCH_CONSUL_RUNS ?? 7) }));
}
