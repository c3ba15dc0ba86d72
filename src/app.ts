import type { Logger } from "pino";
import type { Config } from "./config/load-config.ts";
import type { Clock } from "./clock.ts";
import type { AppDeps } from "../commands/types.ts";
import type { Runner } from "./transport/runner.ts";
import type { ChatPort } from "./chat/chat-port.ts";
import { createLedger, type Ledger } from "../db/sqlite/ledger.ts";
import { isLedgerFull } from "../db/sqlite/ledger-health.ts";
import { errorMessage, SnapbotError } from "./errors.ts";
import { createJobRunner } from "./engine/operations/job-runner.ts";
import { createDriverRegistry } from "./drivers/registry.ts";
import { BUILTIN_DRIVERS } from "./drivers/index.ts";
import type { DriverModule } from "./drivers/driver.ts";
import { createStorageTargets } from "./storage/storage-targets.ts";
import type { S3Tuning } from "./storage/s3-client.ts";
import { copiesSettingOf } from "./drivers/shared/common-settings.ts";
import { copiesProblem } from "./config/setting-rules.ts";
import { ConfigError } from "./config/load-config.ts";
import type { DriverRegistry } from "./drivers/registry.ts";
import { createEngine } from "./engine/engine.ts";
import { reconcile, type ReconcileReport } from "./engine/operations/reconcile.ts";
import { durationMs, parseDuration, timeoutMs } from "./duration.ts";
import { createHeartbeat, type Heartbeat } from "./heartbeat/heartbeat.ts";
import { createAlertSink, type AlertSink } from "./alerts/alert-sink.ts";
import { createScheduler } from "./engine/schedule/scheduler.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { healthOf, ledgerCheck, startMetricsServer, tickedWithin, type MetricsServer } from "./metrics/metrics-server.ts";

const SWEEP_MS = 15_000; // approval requests expire within this long after their TTL
const PROBE_MS = 30_000; // a full ledger is probed this often (and by each command that writes)
const TICK_MAX_AGE_MS = 120_000; // the scheduler ticks every minute: two minutes without one is a stopped scheduler

export interface App extends AppDeps {
  alerts: AlertSink;
  reconciled: ReconcileReport;
  metricsServer: MetricsServer | null; // /metrics and /healthz when METRICS_PORT is set
  heartbeat: Heartbeat | null; // the dead man's switch when heartbeat: is configured
  /** A forced stop (a second signal): cancels every operation, as a timeout would; resolves when they ended. */
  cancelAll(): Promise<void>;
  close(): void;
}

/** Builds everything from its dependencies, settles what a previous run left half-done, and returns. */
export interface AppBuildDeps {
  log: Logger;
  clock: Clock;
  runner: Runner;
  chat: ChatPort;
  /** The drivers servers may use: BUILTIN_DRIVERS unless given (tests add a fake driver). */
  drivers?: readonly DriverModule[];
  /** Where credentials named by the config (access_key_env…) are read: process.env unless given. */
  env?: Record<string, string | undefined>;
  /** S3 targets' request sizes, retries and timeouts (defaults unless given). */
  s3Tuning?: Partial<S3Tuning>;
}

export async function createApp(config: Config, deps: AppBuildDeps): Promise<App> {
  // First: a target that cannot be built (a credential variable not set) stops start-up before anything opens.
  const targets = createStorageTargets(config.storage, { fsync: config.engine.fsync, env: deps.env ?? process.env, log: deps.log, s3Tuning: deps.s3Tuning });
  const ledger = createLedger(config.dbPath, deps.clock, (m) => deps.log.warn(m));
  const servers = Object.entries(config.servers).map(([name, s]) => {
    const { driver, channel, ...settings } = s;
    return { name, driver, settings, channel: typeof channel === "string" ? channel : null };
  });
  try {
    ledger.servers.syncFromConfig(servers);
  } catch (e) {
    if (!isLedgerFull(e)) throw e;
    // Started on a full disk: the servers' config changes wait for the ledger like everything else.
    ledger.health.defer({
      write: () => (ledger.servers.syncFromConfig(servers), "servers updated from the config"),
      failed: (err) => `servers not updated from the config: ${errorMessage(err)}`,
    });
  }
  const drivers = createDriverRegistry(deps.drivers ?? BUILTIN_DRIVERS, {
    runner: deps.runner,
    storageDir: config.storage.path,
    fsync: config.engine.fsync,
    log: deps.log,
    targets,
    encryption: config.storage.encryption,
    env: deps.env ?? process.env,
  });
  const jobs = createJobRunner({ concurrency: config.engine.concurrency, timeoutMs: timeoutMs(config.engine.timeout), clock: deps.clock });
  // The console has one "channel": with no alerts.channel configured, alerts still show there.
  const defaultChannel = config.alerts.channel ?? (config.chat.mode === "console" ? "console" : null);
  const alerts = createAlertSink({ ledger, chat: deps.chat, log: deps.log, defaultChannel });
  const prober = watchLedger(ledger, alerts, deps.log);
  const engine = createEngine({ config, ledger, jobs, drivers, clock: deps.clock, log: deps.log, alerts, chat: deps.chat, targets, runner: deps.runner });
  try {
    checkCopies(config, drivers, targets.names());
  } catch (e) {
    ledger.close();
    throw e;
  }
  const reconciled = await reconcile(ledger, drivers, deps.log, deps.clock.now, targets);
  await engine.settleHostKeyAlerts().catch((e: unknown) => deps.log.warn({ err: e }, "could not re-check open host-key alerts"));
  // Loaded here, started by the adapter (scheduler.start()); tests tick it with a fake clock instead.
  const scheduler = createScheduler({ ledger, clock: deps.clock, log: deps.log, alerts, engine });
  scheduler.load();
  // Prometheus /metrics and /healthz on METRICS_PORT (off by default); closed with the app.
  const health = healthOf({ ledger: ledgerCheck(ledger), scheduler: tickedWithin("scheduler", scheduler.lastTick, TICK_MAX_AGE_MS, deps.clock) });
  const metricsServer =
    config.metricsPort === null
      ? null
      : await startMetricsServer({ port: config.metricsPort, metrics: createMetrics({ ledger, clock: deps.clock, lastTick: scheduler.lastTick }), health, log: deps.log }).catch((e: unknown) => {
          ledger.close();
          throw e;
        });
  const sweeper = setInterval(() => void engine.approvals.expire().catch((e: unknown) => deps.log.error({ err: e }, "approval sweep failed")), SWEEP_MS);
  sweeper.unref(); // never what keeps the process alive
  const heartbeat = config.heartbeat
    ? createHeartbeat({
        url: config.heartbeat.url,
        everyMs: durationMs(parseDuration(config.heartbeat.every)),
        lastTick: scheduler.lastTick,
        maxTickAgeMs: TICK_MAX_AGE_MS,
        health: ledger.health,
        clock: deps.clock,
        log: deps.log,
      })
    : null;
  heartbeat?.start();
  return {
    config, ledger, engine, drivers, chat: deps.chat, clock: deps.clock, log: deps.log, reconciled, scheduler, alerts,
    metricsServer,
    heartbeat,
    cancelAll: () => jobs.abortAll(new SnapbotError("stopped", "cancelled: snapbot was stopped while it ran")),
    close: () => {
      heartbeat?.stop();
      void metricsServer?.close();
      clearInterval(sweeper);
      clearInterval(prober);
      void scheduler.stop();
      targets.close();
      ledger.close();
    },
  };
}

/**
 * `copies:` names configured targets, on servers whose driver stores its snapshots as parts: checked with the
 * servers' drivers made, so a copy that could never run stops start-up with the key named, not at 3 a.m.
 */
function checkCopies(config: Config, drivers: DriverRegistry, targets: string[]): void {
  for (const [name, s] of Object.entries(config.servers)) {
    const copies = copiesSettingOf(s);
    if (copies.length === 0 || !drivers.available(s.driver)) continue;
    const p = copiesProblem(copies, targets, typeof drivers.draft(name, s.driver, s)?.storedIn === "function", name, s.driver);
    if (p) throw new ConfigError(`${config.source}: servers.${name}.${p.key}: ${p.why}`);
  }
}

/** One warning and an alert when the ledger fills up, one when it writes again; a periodic probe while full. */
function watchLedger(ledger: Ledger, alerts: AlertSink, log: Logger): NodeJS.Timeout {
  const full = (message: string) => {
    log.warn({ ledger: ledger.health.path }, `${message.split(":")[0]}: work that writes is refused until it can write again`);
    alerts.ledgerFull(message);
  };
  ledger.health.onChange((e) => {
    if (e.state === "full") return full(e.message);
    log.warn({ ledger: e.path, settled: e.settled }, "the ledger can write again");
    alerts.ledgerWritable(e.settled);
  });
  if (ledger.health.full) full(ledger.health.error().message); // it filled before anyone listened (start-up)
  const timer = setInterval(() => {
    try {
      if (ledger.health.full) ledger.health.probe();
    } catch (e) {
      log.warn({ err: errorMessage(e) }, "ledger write probe failed");
    }
  }, PROBE_MS);
  timer.unref(); // never what keeps the process alive
  return timer;
}
