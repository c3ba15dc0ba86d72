import pino from "pino";
import { measureDriver } from "./measure.ts";
import { createArchiveDriver } from "../src/drivers/archive/archive-driver.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";

// One archive create in a fresh process (its peak RSS is the driver's own), encrypted to `recipient` (a
// sensitive server) or not. Prints one JSON line; seconds exclude Node start-up.

export interface EncryptChildJob {
  src: string;
  storage: string;
  recipient: string | null;
}

export async function storageEncryptChild(job: EncryptChildJob): Promise<Record<string, number | boolean>> {
  const log = pino({ level: "silent" });
  const driver = createArchiveDriver(
    { name: "bench", driver: "archive", mode: "tar", paths: [job.src], exclude: [], host: "local", compression: "zstd", limit: 50 },
    {
      runner: createLocalRunner(log),
      storageDir: job.storage,
      fsync: false,
      log,
      sensitive: job.recipient !== null,
      encryption: job.recipient ? { recipients: [job.recipient] } : undefined,
    },
  );
  return measureDriver(driver, log, "create");
}

if (/\bstorage-encrypt-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  const result = await storageEncryptChild(JSON.parse(process.argv[2] ?? "{}") as EncryptChildJob);
  console.log(JSON.stringify(result));
}
