import { availableParallelism, loadavg, tmpdir } from "node:os";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { ensureTestTree } from "./archive-bench.ts";
import type { ChildJob } from "./archive-bench-child.ts";
import { median, printTable, round, siblingArgv, type ChildResult } from "./measure.ts";

// snapbot's local create (tar | zstd → a FIFO → one storage thread: hashed, cut into parts, written) against
// its physical floor, `tar -cf - … | zstd -1 -T0 > file` of the same tree: the same bytes compressed and
// written, with no hashing at all. Runs alternate floor / create (fsync off) / create (fsync on) so drift in
// the machine hits all alike; the ratio is the median of the per-run ratios (each against the floor run just
// before it). CPU seconds are reported too: on a 2-core machine the hashing's CPU (SHA-256 of every stored
// byte, of the bytes after the first part twice) has to fit beside zstd's, which can take most of both cores
// by itself; the CPU-bound ratio says what the machine allows at best, and the load average how busy it was.

const MiB = 2 ** 20;

export async function benchStorageLocal(opts: { dir: string; sizeMiB?: number; runs?: number }): Promise<Record<string, number | string>> {
  const sizeMiB = opts.sizeMiB ?? 2048;
  const runs = opts.runs ?? Number(process.env.BENCH_STORAGE_RUNS ?? 5);
  const src = join(opts.dir, `archive-src-${sizeMiB}MiB`); // the archive bench's tree: made once, shared
  const storage = join(opts.dir, "storage-local");
  await ensureTestTree(src, sizeMiB);
  await floor(src, storage); // warm the page cache so no side pays for cold reads
  const load = loadavg()[0]!;
  const floors: Array<{ seconds: number; cpu: number }> = [];
  const off: ChildResult[] = [];
  const on: ChildResult[] = [];
  for (let i = 0; i < runs; i++) {
    floors.push(await floor(src, storage));
    off.push(await create(src, storage, false));
    on.push(await create(src, storage, true));
  }
  await rm(storage, { recursive: true, force: true });
  const f = median(floors.map((r) => r.seconds));
  const ratios = off.map((r, i) => (r.seconds as number) / floors[i]!.seconds);
  const ratiosOn = on.map((r, i) => (r.seconds as number) / floors[i]!.seconds);
  const med = (rs: ChildResult[], k: string) => median(rs.map((r) => r[k] as number));
  const cores = availableParallelism();
  return {
    "source MiB": sizeMiB,
    "stored MiB": round((off[0]!.bytes as number) / MiB),
    runs,
    "floor tar|zstd > file s": round(f),
    "create s (fsync off)": round(med(off, "seconds")),
    "create s (fsync on)": round(med(on, "seconds")),
    "ratio create/floor (fsync off, target ≤ 1.20)": round(median(ratios)),
    "ratio create/floor per run": ratios.map(round).join(" "),
    "ratio create/floor (fsync on)": round(median(ratiosOn)),
    "floor CPU s (tar + zstd)": round(median(floors.map((r) => r.cpu))),
    "create CPU s (tar + zstd)": round(med(off, "childCpuSeconds")),
    "create CPU s (snapbot, all threads)": round(med(off, "cpuSeconds")),
    // With every core busy the create cannot beat this, however its threads share the work.
    [`ratio if CPU-bound (create CPU / ${cores} cores / floor s)`]: round(cpuBound(off, cores) / f),
    "peak RSS MiB (create)": round(Math.max(...[...off, ...on].map((r) => r.maxRssMiB as number))),
    "load average (1 min) before, after": `${round(load)}, ${round(loadavg()[0]!)}`,
  };
}

/** Seconds the create's CPU (tar, zstd and snapbot's threads) needs at the least on `cores` cores. */
function cpuBound(runs: ChildResult[], cores: number): number {
  return median(runs.map((r) => ((r.childCpuSeconds as number) + (r.cpuSeconds as number)) / cores));
}

/** The floor, timed, with its CPU seconds as bash's `times` reports them for its children. */
async function floor(src: string, storage: string): Promise<{ seconds: number; cpu: number }> {
  await settle(storage);
  await mkdir(storage, { recursive: true });
  const t = performance.now();
  const { stdout } = await execa("bash", ["-c", 'set -o pipefail; tar -cf - -C "$1" . | zstd -1 -T0 -q > "$2/out.zst"; times', "_", src, storage]);
  const seconds = (performance.now() - t) / 1000;
  const children = stdout.trim().split("\n").at(-1)!.split(" ").map(minutesSeconds); // "0m3.120s 0m0.980s"
  return { seconds, cpu: children[0]! + children[1]! };
}

function minutesSeconds(s: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(s);
  if (!m) throw new Error(`bash times printed ${JSON.stringify(s)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

async function create(src: string, storage: string, fsync: boolean): Promise<ChildResult> {
  await settle(storage);
  const job: ChildJob = { op: "create", src, storage, fsync };
  const { stdout } = await execa("node", [...siblingArgv("archive-bench-child"), JSON.stringify(job)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
}

// The previous run's files go, and its dirty pages are written back before the next timed run starts.
async function settle(storage: string): Promise<void> {
  await rm(storage, { recursive: true, force: true });
  await execa("sync");
}

if (/\bstorage-local-bench\.[jt]s$/.test(process.argv[1] ?? "")) {
  const dir = process.env.BENCH_DIR ?? join(tmpdir(), "snapbot-bench");
  printTable(await benchStorageLocal({ dir, sizeMiB: Number(process.env.BENCH_STORAGE_MIB ?? 2048) }));
}
