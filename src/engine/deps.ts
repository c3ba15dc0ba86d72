import type { StorageTargets } from "../storage/storage-targets.ts";
import type { Logger } from "pino";
import type { Ledger } from "../../db/ledger.ts";
import type { Config } from "../config/load-config.ts";
import type { Clock } from "../clock.ts";
import type { JobRunner } from "./operations/job-runner.ts";
import type { DriverRegistry } from "../drivers/registry.ts";
import type { AlertSink } from "../alerts/alert-sink.ts";
import type { ChatPort } from "../chat/chat-port.ts";
import type { Runner } from "../transport/runner.ts";

// What every engine part is built from. In its own file so that the parts (operations, approvals, schedule,
// host keys) import it without importing engine.ts, which imports them: no type cycles.

export interface EngineDeps {
  config: Config;
  ledger: Ledger;
  jobs: JobRunner;
  drivers: DriverRegistry;
  clock: Clock;
  log: Logger;
  alerts: AlertSink;
  chat: ChatPort;
  /** The named storage targets (storage.targets) snapshots are copied to. */
  targets: StorageTargets;
  /** snapbot's own machine: where hooks run for a server whose driver has no runner() (absent: a local runner is made). */
  runner?: Runner;
}

export interface Asker {
  user: string;
  channel?: string | null;
}
