import pino from "pino";
import { measureDriver } from "./measure.ts";
import type { ServerRow } from "../db/types.ts";
import { createDriverRegistry } from "../src/drivers/registry.ts";
import { BUILTIN_DRIVERS } from "../src/drivers/index.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";

// One archive-driver operation over SSH in a fresh process (sibling of archive-bench-child.ts), built the way
// the bot builds it (driver registry: ssh runner + known_hosts beside the storage). Prints one JSON line;
// seconds exclude Node and tsx start-up and include the host-key check before create.

export interface SshChildJob {
  op: "create" | "verify";
  src: string;
  storage: string;
  host: string;
  sshKey: string;
}

export async function sshBenchChild(job: SshChildJob): Promise<Record<string, number | boolean>> {
  const log = pino({ level: "silent" });
  const drivers = createDriverRegistry(BUILTIN_DRIVERS, { runner: createLocalRunner(log), storageDir: job.storage, fsync: false, log });
  const row: ServerRow = {
    id: 1, name: "bench", driver: "archive", source: "config", channel: null, cloned_from: null, registered_by: null, created_at: 0, removed_at: null,
    settings: { mode: "tar", paths: [job.src], host: job.host, ssh_key: job.sshKey, compression: "zstd" },
  };
  const driver = drivers.get(row);
  return measureDriver(driver, log, job.op);
}

if (/\bssh-bench-child\.[jt]s$/.test(process.argv[1] ?? "")) {
  const result = await sshBenchChild(JSON.parse(process.argv[2] ?? "{}") as SshChildJob);
  console.log(JSON.stringify(result));
}
