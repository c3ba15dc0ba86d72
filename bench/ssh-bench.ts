import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { median, medianOf, printTable, round, siblingArgv, type ChildResult } from "./measure.ts";
import { startSshd } from "../test/helpers/sshd.ts";
import { ensureTestTree } from "./archive-bench.ts";
import type { SshChildJob } from "./ssh-bench-child.ts";

// The archive driver over SSH (real sshd on 127.0.0.1) against the pipeline it replaces, on the same tree as
// the local archive bench, in the same run: `ssh root@127.0.0.1 "tar | zstd -1 -T0" | sha256sum` for create,
// `sha256sum .parts/*` for verify. Runs alternate; medians of RUNS are reported.

const RUNS = 5;
const MiB = 2 ** 20;

export async function benchSsh(opts: { sizeMiB: number; dir: string }): Promise<Record<string, number | string>> {
  const src = join(opts.dir, `archive-src-${opts.sizeMiB}MiB`);
  const work = join(opts.dir, "ssh-bench");
  const storage = join(work, "state", "storage");
  await ensureTestTree(src, opts.sizeMiB);
  await rm(work, { recursive: true, force: true });
  const sshd = await startSshd(join(work, "sshd"));
  try {
    const job = { src, storage, host: `ssh://root@127.0.0.1:${sshd.port}`, sshKey: sshd.clientKey };
    // Same ssh options as the driver's runner, minus host-key checking (baseline has no known_hosts step).
    const ssh = `ssh -p ${sshd.port} -i ${sshd.clientKey} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR root@127.0.0.1`;
    const baseline = () => timed(["bash", "-c", `set -o pipefail; ${ssh} "tar -cf - -C '$1' . | zstd -1 -T0 -q" | sha256sum >/dev/null`, "_", src]);
    await baseline(); // warm the page cache so neither side pays for cold reads
    const base: number[] = [];
    const creates: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      await execa("sync");
      base.push(await baseline());
      await rm(join(storage, "bench"), { recursive: true, force: true });
      await mkdir(storage, { recursive: true });
      await execa("sync");
      creates.push(await child({ op: "create", ...job }));
    }
    const sums: number[] = [];
    const verifies: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      sums.push(await timed(["bash", "-c", 'sha256sum "$1"/bench/s1/.parts/* >/dev/null', "_", storage]));
      verifies.push(await child({ op: "verify", ...job }));
    }
    if (!verifies.every((v) => v.ok)) throw new Error("verify failed on a fresh snapshot");
    const [b, c, s, v] = [median(base), medianOf(creates, "seconds"), median(sums), medianOf(verifies, "seconds")];
    const peak = Math.max(...[...creates, ...verifies].map((r) => r.maxRssMiB as number));
    return {
      "source MiB": opts.sizeMiB,
      "stored MiB": round((creates[0]!.bytes as number) / MiB),
      "baseline ssh tar|zstd | sha256sum s": round(b),
      "driver create over ssh s": round(c),
      "ratio create/baseline (target ≤ 1.15)": round(c / b),
      "sha256sum parts s": round(s),
      "driver verify s": round(v),
      "ratio verify/sha256sum (target ≤ 1.1)": round(v / s),
      "peak RSS MiB create": round(Math.max(...creates.map((r) => r.maxRssMiB as number))),
      "peak RSS MiB verify": round(Math.max(...verifies.map((r) => r.maxRssMiB as number))),
      "peak RSS MB (target < 150)": round((peak * MiB) / 1e6),
    };
  } finally {
    await sshd.stop();
    await rm(storage, { recursive: true, force: true });
  }
}

async function child(job: SshChildJob): Promise<ChildResult> {
  const { stdout } = await execa("node", [...siblingArgv("ssh-bench-child"), JSON.stringify(job)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
}

async function timed(argv: string[]): Promise<number> {
  const t = performance.now();
  await execa(argv[0]!, argv.slice(1));
  return (performance.now() - t) / 1000;
}

if (/\bssh-bench\.[jt]s$/.test(process.argv[1] ?? "")) {
  const r = await benchSsh({ sizeMiB: Number(process.argv[2] ?? 2048), dir: process.env.BENCH_DIR ?? join(tmpdir(), "snapbot-bench") });
  printTable(r);
}
