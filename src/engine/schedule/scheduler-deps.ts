import type { Logger } from "pino";
import type { Ledger } from "../../../db/ledger.ts";
import type { ScheduleRow } from "../../../db/ledger.ts";
import type { Clock } from "../../clock.ts";
import type { AlertSink } from "../../alerts/alert-sink.ts";
import type { Engine } from "../engine.ts";
import type { CronSchedule } from "../../schedule/cron.ts";

// What the scheduler and its parts (freshness, retention) are built from: in its own file so the parts
// import it without importing the scheduler that imports them.

export interface ScheduleEntry {
  row: ScheduleRow;
  cron: CronSchedule;
  next: number; // the next time it fires
  intervalMs: number;
  running: number | null; // operation id of the run in progress
}

export interface SchedulerDeps {
  ledger: Ledger;
  clock: Clock;
  log: Logger;
  alerts: AlertSink;
  engine: Engine;
}
