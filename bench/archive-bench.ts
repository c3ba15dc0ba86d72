import { randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { median, medianOf, printTable, round, siblingArgv, type ChildResult } from "./measure.ts";
import type { ChildJob } from "./archive-bench-child.ts";

// The archive driver's create and verify against the shell pipelines they replace, on the same data in
// the same run: `tar | zstd -1 -T0 | sha256sum` and `sha256sum .parts/*`. Runs alternate so drift in
// the machine (page cache, other load) hits both sides alike; medians of RUNS are reported. A second
// reference, `tar | zstd > file`, is the floor: no hashing at all, and the same bytes written as the driver.

const RUNS = 3;
const MiB = 2 ** 20;


export async function benchArchive(opts: { sizeMiB: number; dir: string }): Promise<Record<string, number | string>> {
  const src = join(opts.dir, `archive-src-${opts.sizeMiB}MiB`);
  const storage = join(opts.dir, "archive-storage");
  await ensureTestTree(src, opts.sizeMiB);
  await baseline(src); // warm the page cache so neither side pays for cold reads
  const create = await measureCreate(src, storage);
  const verify = await measureVerify(src, storage); // over the parts the last create left
  await rm(storage, { recursive: true, force: true });
  return { "source MiB": opts.sizeMiB, ...create, ...verify };
}

async function measureCreate(src: string, storage: string): Promise<Record<string, number>> {
  const base: number[] = [];
  const floor: number[] = [];
  const off: ChildResult[] = [];
  const on: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    base.push(await baseline(src));
    floor.push(await toFile(src, storage));
    off.push(await driverCreate(src, storage, false));
    on.push(await driverCreate(src, storage, true));
  }
  const [b, f, d, df] = [median(base), median(floor), medianOf(off, "seconds"), medianOf(on, "seconds")];
  return {
    "stored MiB": round((on[0]!.bytes as number) / MiB),
    "baseline tar|zstd|sha256sum s": round(b),
    "floor tar|zstd > file s": round(f),
    "driver create s (fsync off)": round(d),
    "driver create s (fsync on)": round(df),
    "ratio driver/baseline (fsync off)": round(d / b),
    "ratio driver/baseline (fsync on)": round(df / b),
    "ratio driver/floor (fsync off)": round(d / f),
    "peak RSS MiB (driver process)": round(Math.max(...[...off, ...on].map((r) => r.maxRssMiB as number))),
    "RSS MiB before create": round(medianOf(on, "rssBeforeMiB")),
  };
}

async function measureVerify(src: string, storage: string): Promise<Record<string, number>> {
  const sums: number[] = [];
  const verifies: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    sums.push(await timed(["bash", "-c", 'sha256sum "$1"/bench/s1/.parts/* >/dev/null', "_", storage]));
    verifies.push(await child({ op: "verify", src, storage, fsync: false }));
  }
  if (!verifies.every((v) => v.ok)) throw new Error("verify failed on a fresh snapshot");
  const [s, v] = [median(sums), medianOf(verifies, "seconds")];
  return {
    "sha256sum parts s": round(s),
    "driver verify s": round(v),
    "ratio verify/sha256sum": round(v / s),
    "verify peak RSS MiB": round(Math.max(...verifies.map((r) => r.maxRssMiB as number))),
  };
}

async function baseline(src: string): Promise<number> {
  await execa("sync");
  return timed(["bash", "-c", 'set -o pipefail; tar -cf - -C "$1" . | zstd -1 -T0 -q | sha256sum >/dev/null', "_", src]);
}

async function toFile(src: string, storage: string): Promise<number> {
  await settle(storage);
  await mkdir(storage, { recursive: true });
  return timed(["bash", "-c", 'set -o pipefail; tar -cf - -C "$1" . | zstd -1 -T0 -q > "$2/out.zst"', "_", src, storage]);
}

async function driverCreate(src: string, storage: string, fsync: boolean): Promise<ChildResult> {
  await settle(storage);
  return child({ op: "create", src, storage, fsync });
}

// The previous run's dirty pages must not be written back during the next timed run.
async function settle(storage: string): Promise<void> {
  await rm(storage, { recursive: true, force: true });
  await execa("sync");
}

async function child(job: ChildJob): Promise<ChildResult> {
  const { stdout } = await execa("node", [...siblingArgv("archive-bench-child"), JSON.stringify(job)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, number | boolean>;
}

async function timed(argv: string[]): Promise<number> {
  const t = performance.now();
  await execa(argv[0]!, argv.slice(1));
  return (performance.now() - t) / 1000;
}

// ~Half incompressible random files, ~half compressible text, sizes spread log-uniformly 4 KiB–64 MiB.
export async function ensureTestTree(dir: string, sizeMiB: number): Promise<void> {
  const done = `${dir}.complete`;
  if (existsSync(done) && (await readFile(done, "utf8")) === String(sizeMiB)) return;
  await rm(dir, { recursive: true, force: true });
  const rand = xorshift(0x5eed);
  const budget = sizeMiB * MiB;
  let written = 0;
  for (let i = 0; written < budget; i++) {
    const size = Math.min(budget - written, Math.round(4096 * 2 ** (rand() * 14)));
    const kind = i % 2 === 0 ? "random" : "text";
    const file = join(dir, `d${i % 17}`, `${kind}-${i}.${kind === "text" ? "txt" : "bin"}`);
    await mkdir(dirname(file), { recursive: true });
    await writeChunked(file, size, kind === "text" ? (b) => fillText(b, rand) : (b) => randomFillSync(b));
    written += size;
  }
  await writeFile(done, String(sizeMiB));
}

async function writeChunked(file: string, size: number, fill: (b: Buffer) => void): Promise<void> {
  const h = await open(file, "w");
  try {
    for (let left = size; left > 0; ) {
      const b = Buffer.allocUnsafe(Math.min(left, 4 * MiB));
      fill(b);
      await h.write(b);
      left -= b.length;
    }
  } finally {
    await h.close();
  }
}

const WORDS = "the snapshot of a server is taken at night and kept for thirty days while logs rotate every hour with errors warnings info debug trace user request response latency bytes disk memory cpu".split(" ");

function fillText(b: Buffer, rand: () => number): void {
  let at = 0;
  while (at < b.length) {
    const line = `${Math.floor(rand() * 1e9)} ${Array.from({ length: 8 }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ")}\n`;
    at += b.write(line, at);
  }
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

if (/\barchive-bench\.[jt]s$/.test(process.argv[1] ?? "")) {
  const sizeMiB = Number(process.argv[2] ?? 2048);
  const dir = process.env.BENCH_DIR ?? join(tmpdir(), "snapbot-bench");
  const r = await benchArchive({ sizeMiB, dir });
  printTable(r);
}
