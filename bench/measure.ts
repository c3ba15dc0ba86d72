import type { Logger } from "pino";
import type { DriverContext, SnapshotDriver } from "../src/drivers/driver.ts";

// What the archive bench children share: one timed create or verify of snapshot bench/s1, with the
// process's memory, and the small statistics the parents report.

export type ChildResult = Record<string, number | boolean>;

export async function measureDriver(driver: SnapshotDriver, log: Logger, op: "create" | "verify"): Promise<ChildResult> {
  const ctx: DriverContext = { signal: new AbortController().signal, progress: () => {}, log };
  const rssBefore = process.memoryUsage().rss;
  const t = performance.now();
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
  return { seconds, bytes, ok, rssBeforeMiB: rssBefore / 2 ** 20, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
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
