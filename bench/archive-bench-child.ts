import pino from "pino";
import { measureDriver } from "./measure.ts";
import { createArchiveDriver } from "../src/drivers/archive/archive-driver.ts";
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
  return measureDriver(driver, log, job.op);
}

if (/\barchive-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  const result = await archiveBenchChild(JSON.parse(process.argv[2] ?? "{}") as ChildJob);
  console.log(JSON.stringify(result));
}
