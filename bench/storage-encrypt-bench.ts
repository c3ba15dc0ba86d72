import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { execa } from "execa";
import { ensureTestTree } from "./archive-bench.ts";
import { medianOf, printTable, round, siblingArgv, type ChildResult } from "./measure.ts";
import type { EncryptChildJob } from "./storage-encrypt-bench-child.ts";

// Encryption at rest, what it costs: the archive driver's local create of the same source, unencrypted and
// encrypted with age to one X25519 recipient (a sensitive server), alternated in the same run so drift in the
// machine hits both alike; medians of RUNS. fsync off on both sides: the disk's flushes would hide the CPU that
// encryption adds, and this is the case where it shows most. Target: encrypted ≤ 1.25× unencrypted. On a
// shared machine the seconds drift with the neighbours' load; the CPU seconds of the whole process tree (node,
// tar, zstd: bash's `times` after the child) are what encryption really adds, whatever the load.

const RUNS = 5;
const MiB = 2 ** 20;

export async function benchStorageEncrypt(opts: { dir: string; sizeMiB: number }): Promise<Record<string, number | string>> {
  const src = join(opts.dir, `archive-src-${opts.sizeMiB}MiB`); // the archive bench's tree, reused when it is there
  const storage = join(opts.dir, "encrypt-storage");
  await ensureTestTree(src, opts.sizeMiB);
  const recipient = await identityToRecipient(await generateX25519Identity());
  await create(src, storage, null); // warm the page cache so neither side pays for cold reads
  const plain: ChildResult[] = [];
  const sealed: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    plain.push(await create(src, storage, null));
    sealed.push(await create(src, storage, recipient));
  }
  await rm(storage, { recursive: true, force: true });
  const [p, s] = [medianOf(plain, "seconds"), medianOf(sealed, "seconds")];
  return {
    "source MiB": opts.sizeMiB,
    "stored MiB (encrypted)": round((sealed[0]!.bytes as number) / MiB),
    "create s, unencrypted (fsync off)": round(p),
    "create s, age-encrypted (fsync off)": round(s),
    "ratio encrypted/unencrypted": round(s / p),
    "CPU s node, unencrypted": round(medianOf(plain, "cpuSeconds")),
    "CPU s node, encrypted": round(medianOf(sealed, "cpuSeconds")),
    "CPU s node+tar+zstd, unencrypted": round(medianOf(plain, "treeCpuSeconds")),
    "CPU s node+tar+zstd, encrypted": round(medianOf(sealed, "treeCpuSeconds")),
    "ratio of CPU (whole tree) encrypted/unencrypted": round(medianOf(sealed, "treeCpuSeconds") / medianOf(plain, "treeCpuSeconds")),
    "peak RSS MiB, unencrypted create": round(Math.max(...plain.map((r) => r.maxRssMiB as number))),
    "peak RSS MiB, encrypted create": round(Math.max(...sealed.map((r) => r.maxRssMiB as number))),
    "runs each": `${RUNS} (${plain.map((r) => round(r.seconds as number)).join(", ")} vs ${sealed.map((r) => round(r.seconds as number)).join(", ")})`,
  };
}

async function create(src: string, storage: string, recipient: string | null): Promise<ChildResult> {
  await rm(storage, { recursive: true, force: true });
  await execa("sync"); // the previous run's dirty pages are not written back during this one
  const job: EncryptChildJob = { src, storage, recipient };
  // bash's `times` prints the CPU its children used (node and, below it, tar and zstd) after they have exited.
  const script = 'node "$@" && times';
  const { stdout } = await execa("bash", ["-c", script, "_", ...siblingArgv("storage-encrypt-bench-child"), JSON.stringify(job)]);
  const lines = stdout.trim().split("\n");
  const result = JSON.parse(lines.at(-3)!) as ChildResult;
  return { ...result, treeCpuSeconds: childCpu(lines.at(-1)!) };
}

/** "0m5.123s 0m0.456s" (user, system) → seconds. */
function childCpu(line: string): number {
  const times = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (times.length !== 2) throw new Error(`bash times printed "${line}"`);
  return times[0]! + times[1]!;
}


if (/\bstorage-encrypt-bench\.[jt]s$/.test(process.argv[1] ?? "")) {
  const dir = process.env.BENCH_DIR ?? join(tmpdir(), "snapbot-bench");
  printTable(await benchStorageEncrypt({ dir, sizeMiB: Number(process.env.BENCH_STORAGE_MIB ?? 2048) }));
}
