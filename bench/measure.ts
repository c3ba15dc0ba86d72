import { randomFillSync } from "node:crypto";
import { mkdir, open } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { DriverContext, SnapshotDriver } from "../src/drivers/driver.ts";

// What the archive bench children share: one timed create or verify of snapshot bench/s1, with the
// process's memory, and the small statistics the parents report.

export type ChildResult = Record<string, number | boolean>;

export async function measureDriver(driver: SnapshotDriver, log: Logger, op: "create" | "verify"): Promise<ChildResult> {
  const ctx: DriverContext = { signal: new AbortController().signal, progress: () => {}, log };
  const rssBefore = process.memoryUsage().rss;
  const t = performance.now();
  const cpuBefore = process.cpuUsage();
  const childCpuBefore = childCpuSeconds();
  let bytes: number;
  let ok = true;
  if (op === "create") {
    bytes = (await driver.create({ server: "bench", name: "s1", createdAt: Date.now(), stateful: false }, ctx)).size ?? 0;
  } else {
    const v = await driver.verify!({ server: "bench", name: "s1", location: null, createdAt: 0 }, ctx);
    bytes = v.checkedBytes;
    ok = v.ok;
  }
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    childCpuSeconds: childCpuSeconds() - childCpuBefore,
    bytes,
    ok,
    rssBeforeMiB: rssBefore / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

/** CPU seconds of this process's finished children (tar, zstd), from /proc/self/stat; NaN off Linux. */
function childCpuSeconds(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd (state) on
    return (Number(fields[13]) + Number(fields[14])) / 100; // cutime, cstime, in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function medianOf(rs: ChildResult[], key: string): number {
  return median(rs.map((r) => r[key] as number));
}

export function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function printTable(r: Record<string, number | string>): void {
  const w = Math.max(...Object.keys(r).map((k) => k.length));
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(w)}  ${v}`);
}

// `npm run bench` runs the compiled bench (dist/bench), so the children measure the JavaScript the bot runs
// in production (`npm start` builds first), not the tsx loader (~30 MiB of RSS on its own). Run from source
// (node --import tsx bench/run.ts), the children run from source too.
const HERE = dirname(fileURLToPath(import.meta.url));
const COMPILED = import.meta.url.endsWith(".js");

/** node's argv for a sibling bench script, in whichever form this one runs (compiled or from source). */
export function siblingArgv(name: string): string[] {
  const file = join(HERE, `${name}.${COMPILED ? "js" : "ts"}`);
  return COMPILED ? [file] : ["--import", "tsx", file];
}

/** A file of the repository (fixtures), wherever this module runs from. */
export function repoFile(rel: string): string {
  return resolve(HERE, COMPILED ? "../.." : "..", rel);
}

/** How long `fn` takes, in seconds. */
export async function timedSeconds(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

/** Incompressible files of up to 64 MiB each (random bytes): an archive of them is as big as the source. */
export async function randomTree(dir: string, sizeMiB: number): Promise<void> {
  const MiB = 1024 * 1024;
  await mkdir(dir, { recursive: true });
  const block = Buffer.allocUnsafe(MiB);
  for (let f = 0; f * 64 < sizeMiB; f++) {
    const h = await open(join(dir, `blob-${f}`), "w");
    for (let i = 0; i < Math.min(64, sizeMiB - f * 64); i++) await h.write(randomFillSync(block));
    await h.close();
  }
}
