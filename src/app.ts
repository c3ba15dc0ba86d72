import type { Logger } from "pino";
import type { Config } from "./config/load-config.ts";
import type { Clock } from "./clock.ts";
import type { AppDeps } from "../commands/types.ts";
import type { Runner } from "./transport/runner.ts";
import type { ChatPort } from "./chat/chat-port.ts";
import { createLedger } from "../db/ledger.ts";
import { createJobRunner } from "./engine/job-runner.ts";
import { createDriverRegistry } from "./engine/driver-registry.ts";
import { createEngine } from "./engine/engine.ts";
import { reconcile, type ReconcileReport } from "./engine/reconcile.ts";
import { timeoutMs } from "./duration.ts";
import { createAlertSink } from "./engine/alert-sink.ts";

const SWEEP_MS = 15_000; // approval requests expire within this long after their TTL

export interface App extends AppDeps {
  reconciled: ReconcileReport;
  close(): void;
}

/** Builds everything from its dependencies, settles what a previous run left half-done, and returns. */
export async function createApp(config: Config, deps: { log: Logger; clock: Clock; runner: Runner; chat: ChatPort }): Promise<App> {
  const ledger = createLedger(config.dbPath, deps.clock);
  ledger.servers.syncFromConfig(
    Object.entries(config.servers).map(([name, s]) => {
      const { driver, channel, ...settings } = s;
      return { name, driver, settings, channel };
    }),
  );
  const drivers = createDriverRegistry({ runner: deps.runner, storageDir: config.storage.path, fsync: config.engine.fsync, log: deps.log });
  const jobs = createJobRunner({ concurrency: config.engine.concurrency, timeoutMs: timeoutMs(config.engine.timeout), clock: deps.clock });
  // The console has one "channel": with no alerts.channel configured, alerts still show there.
  const defaultChannel = config.alerts.channel ?? (config.chat.mode === "console" ? "console" : null);
  const alerts = createAlertSink({ ledger, chat: deps.chat, log: deps.log, defaultChannel });
  const engine = createEngine({ config, ledger, jobs, drivers, clock: deps.clock, log: deps.log, alerts, chat: deps.chat });
  const reconciled = await reconcile(ledger, drivers, deps.log, deps.clock.now);
  const sweeper = setInterval(() => void engine.approvals.expire().catch((e: unknown) => deps.log.error({ err: e }, "approval sweep failed")), SWEEP_MS);
  sweeper.unref(); // never what keeps the process alive
  return {
    config, ledger, engine, drivers, chat: deps.chat, clock: deps.clock, log: deps.log, reconciled,
    close: () => {
      clearInterval(sweeper);
      ledger.close();
    },
  };
}
