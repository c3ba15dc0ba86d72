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
import { SnapbotError } from "./errors.ts";
import { createAlertSink, type AlertSink } from "./engine/alert-sink.ts";
import { createScheduler } from "./engine/scheduler.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { healthOf, ledgerCheck, startMetricsServer, tickedWithin, type MetricsServer } from "./metrics/metrics-server.ts";

const SWEEP_MS = 15_000; // approval requests expire within this long after their TTL

export interface App extends AppDeps {
  alerts: AlertSink;
  reconciled: ReconcileReport;
  metricsServer: MetricsServer | null; // /metrics and /healthz when METRICS_PORT is set
  /** A forced stop (a second signal): cancels every operation, as a timeout would; resolves when they ended. */
  cancelAll(): Promise<void>;
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
  // Loaded here, started by the adapter (scheduler.start()); tests tick it with a fake clock instead.
  const scheduler = createScheduler({ ledger, clock: deps.clock, log: deps.log, alerts, engine });
  scheduler.load();
  // Prometheus /metrics and /healthz on METRICS_PORT (off by default); closed with the app.
  const health = healthOf({ ledger: ledgerCheck(ledger), scheduler: tickedWithin("scheduler", scheduler.lastTick, 120_000, deps.clock) });
  const metricsServer =
    config.metricsPort === null
      ? null
      : await startMetricsServer({ port: config.metricsPort, metrics: createMetrics({ ledger, clock: deps.clock }), health, log: deps.log }).catch((e: unknown) => {
          ledger.close();
          throw e;
        });
  const sweeper = setInterval(() => void engine.approvals.expire().catch((e: unknown) => deps.log.error({ err: e }, "approval sweep failed")), SWEEP_MS);
  sweeper.unref(); // never what keeps the process alive
  return {
    config, ledger, engine, drivers, chat: deps.chat, clock: deps.clock, log: deps.log, reconciled, scheduler, alerts,
    metricsServer,
    cancelAll: () => jobs.abortAll(new SnapbotError("stopped", "cancelled: snapbot was stopped while it ran")),
    close: () => {
      void metricsServer?.close();
      clearInterval(sweeper);
      void scheduler.stop();
      ledger.close();
    },
  };
}
