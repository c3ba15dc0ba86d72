import pino from "pino";
import { createArchiveDriver } from "../src/drivers/archive/archive-driver.ts";
import type { DriverContext } from "../src/drivers/driver.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";

// One archive-driver operation in a fresh process, so its peak RSS (the kernel's high-water mark) is the
// driver's own and not the bench's. Prints one JSON line; seconds exclude Node and tsx start-up.

export interface ChildJob {
  op: "create" | "verify";
  src: string;
  storage: string;
  fsync: boolean;
}

export async function archiveBenchChild(job: ChildJob): Promise<Record<string, number | boolean>> {
  const log = pino({ level: "silent" });
  const driver = createArchiveDriver(
    { name: "bench", driver: "archive", mode: "tar", paths: [job.src], exclude: [], host: "local", compression: "zstd", limit: 50 },
    { runner: createLocalRunner(log), storageDir: job.storage, fsync: job.fsync, log },
  );
  const ctx: DriverContext = { signal: new AbortController().signal, progress: () => {}, log };
  const rssBefore = process.memoryUsage().rss;
  const t = performance.now();
  let bytes: number;
  let ok = true;
  if (job.op === "create") {
    bytes = (await driver.create({ server: "bench", name: "s1", createdAt: Date.now(), stateful: false }, ctx)).size ?? 0;
  } else {
    const v = await driver.verify!({ server: "bench", name: "s1", location: null, createdAt: 0 }, ctx);
    bytes = v.checkedBytes;
    ok = v.ok;
  }
  const seconds = (performance.now() - t) / 1000;
  return { seconds, bytes, ok, rssBeforeMiB: rssBefore / 2 ** 20, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

if (process.argv[1]?.endsWith("archive-bench-child.ts")) {
  const result = await archiveBenchChild(JSON.parse(process.argv[2] ?? "{}") as ChildJob);
  console.log(JSON.stringify(result));
}
