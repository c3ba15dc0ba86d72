import type { Logger } from "pino";
import type { Config } from "./config/load-config.ts";
import type { Clock } from "./clock.ts";
import type { AppDeps } from "../commands/types.ts";
import type { Runner } from "./transport/runner.ts";
import type { ChatPort } from "./chat/chat-port.ts";
import type { Ledger } from "../db/ledger.ts";
import { openLedger } from "../db/open-ledger.ts";
import { isLedgerFull } from "../db/health.ts";
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
import { healthOf, ledgerCheck, startMetricsServer, tickedWithin, type HealthCheck, type MetricsServer } from "./metrics/metrics-server.ts";
import { createReplica, type Replica } from "./coordination/replica.ts";
import { createDuties, everyDuty } from "./coordination/duties.ts";
import { reconcileReply } from "./replies/reconcile-replies.ts";

const SWEEP_MS = 15_000; // approval requests expire within this long after their TTL
const PROBE_MS = 30_000; // a full ledger is probed this often (and by each command that writes)
const TICK_MAX_AGE_MS = 120_000; // the scheduler ticks every minute: two minutes without one is a stopped scheduler
const RECONCILE_MS = 5_000; // with replicas, the leader settles a dead replica's work this often
const OUTBOX_MS = 1_000; // with replicas, the leader reads the alert messages owed this often

export interface App extends AppDeps {
  alerts: AlertSink;
  reconciled: ReconcileReport;
  metricsServer: MetricsServer | null; // /metrics and /healthz when METRICS_PORT is set
  heartbeat: Heartbeat | null; // the dead man's switch when heartbeat: is configured
  /** This process among the replicas on the ledger (one, always leading, on SQLite). */
  replica: Replica;
  /**
   * Starts the scheduler, on the leader (the adapters call it once they listen; tests tick it themselves). The
   * leader's other work (approval expiry, the dead man's switch, settling a dead replica's work) runs from start-up.
   */
  start(): Promise<void>;
  /** A forced stop (a second signal): cancels every operation, as a timeout would; resolves when they ended. */
  cancelAll(): Promise<void>;
  /** Stops the timers and servers and closes the ledger; resolves when the ledger is closed. */
  close(): Promise<void>;
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
  const ledger = await openLedger(config.ledger, deps.clock, (m) => deps.log.warn(m));
  const servers = Object.entries(config.servers).map(([name, s]) => {
    const { driver, channel, ...settings } = s;
    return { name, driver, settings, channel: typeof channel === "string" ? channel : null };
  });
  try {
    await ledger.servers.syncFromConfig(servers);
  } catch (e) {
    if (!isLedgerFull(e)) throw e;
    // Started on a full disk: the servers' config changes wait for the ledger like everything else.
    ledger.health.defer({
      write: async () => (await ledger.servers.syncFromConfig(servers), "servers updated from the config"),
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
  const jobs = createJobRunner({
    concurrency: config.engine.concurrency,
    timeoutMs: timeoutMs(config.engine.timeout),
    clock: deps.clock,
    coordination: ledger.coordination,
    warn: (m) => deps.log.warn(m),
  });
  // The console has one "channel": with no alerts.channel configured, alerts still show there.
  const defaultChannel = config.alerts.channel ?? (config.chat.mode === "console" ? "console" : null);
  // The leader's work (below); alert messages are sent by the leader only (on one box: always this process).
  const duties = createDuties(deps.log);
  const alerts = createAlertSink({ ledger, chat: deps.chat, log: deps.log, defaultChannel, sending: () => !ledger.coordination.shared || duties.running() });
  const prober = watchLedger(ledger, alerts, deps.log);
  const engine = createEngine({ config, ledger, jobs, drivers, clock: deps.clock, log: deps.log, alerts, chat: deps.chat, targets, runner: deps.runner });
  try {
    checkCopies(config, drivers, targets.names());
  } catch (e) {
    await ledger.close();
    throw e;
  }
  const replica = createReplica({
    coordination: ledger.coordination,
    log: deps.log,
    onLead: () => duties.start(),
    onFollow: () => duties.stop(),
    onLapsed: (reason) => jobs.abortRunning(reason),
  });
  let role: "leader" | "follower";
  try {
    role = await replica.join();
  } catch (e) {
    await ledger.close();
    throw e;
  }
  // What a previous run left half-done: the leader settles it (a follower leaves it to the leader's sweep). With
  // replicas that is only the work of replicas that are gone: the others' is running.
  const reconciled: ReconcileReport = role === "leader" ? await reconcile(ledger, drivers, deps.log, deps.clock.now, targets) : { operations: [], snapshots: [], copies: [] };
  await engine.settleHostKeyAlerts().catch((e: unknown) => deps.log.warn({ err: e }, "could not re-check open host-key alerts"));
  // Loaded here, started by the adapter (scheduler.start()); tests tick it with a fake clock instead.
  const scheduler = createScheduler({ ledger, clock: deps.clock, log: deps.log, alerts, engine });
  await scheduler.load();
  // Prometheus /metrics and /healthz on METRICS_PORT (off by default); closed with the app.
  const ticked = tickedWithin("scheduler", scheduler.lastTick, TICK_MAX_AGE_MS, deps.clock);
  const schedulerCheck: HealthCheck = () => (replica.role() === "leader" ? ticked() : "another replica leads: it runs the scheduler");
  const checks = healthOf({ ledger: ledgerCheck(ledger), scheduler: schedulerCheck });
  const health = async () => ({ ...(await checks()), role: replica.role() });
  const port = config.metricsPort;
  const metricsServer =
    port === null
      ? null
      : await createMetrics({ ledger, clock: deps.clock, lastTick: scheduler.lastTick, replica })
          .then((metrics) => startMetricsServer({ port, metrics, health, log: deps.log }))
          .catch(async (e: unknown) => {
            await ledger.close();
            throw e;
          });
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
  // The leader's work, started when this replica leads (at once on SQLite) and stopped the moment it does not.
  // What alert messages the ledger says are owed (raised on a follower, or before a crash): sent from here.
  const outboxPoll = ledger.coordination.shared ? everyDuty("alert outbox", OUTBOX_MS, () => alerts.resume(), deps.log) : null;
  duties.add({
    name: "alert outbox",
    start: async () => {
      await alerts.resume();
      await outboxPoll?.start();
    },
    stop: async () => {
      await outboxPoll?.stop();
      alerts.pause();
    },
  });
  duties.add(everyDuty("approval sweep", SWEEP_MS, () => engine.approvals.expire(), deps.log));
  if (heartbeat) duties.add({ name: "heartbeat", start: () => heartbeat.start(), stop: () => heartbeat.stop() });
  if (ledger.coordination.shared) duties.add(everyDuty("reconciliation sweep", RECONCILE_MS, () => settleDeadReplicas(), deps.log));
  let scheduling = false; // app.start() was called
  let schedulerOn = false;
  const syncScheduler = async () => {
    const want = scheduling && duties.running();
    if (want === schedulerOn) return;
    schedulerOn = want;
    if (want) await scheduler.start();
    else void scheduler.stop().catch((e: unknown) => deps.log.error({ err: errorMessage(e) }, "stopping the scheduler failed"));
  };
  duties.add({ name: "scheduler", start: syncScheduler, stop: syncScheduler });
  /** A dead replica's work, settled as a crash is at start-up, and said in the alerts channel. */
  async function settleDeadReplicas(): Promise<void> {
    const report = await reconcile(ledger, drivers, deps.log, deps.clock.now, targets);
    const reply = reconcileReply(report, "replica");
    if (reply && defaultChannel) await deps.chat.post(defaultChannel, reply);
  }
  replica.start();
  return {
    config, ledger, engine, drivers, chat: deps.chat, clock: deps.clock, log: deps.log, reconciled, scheduler, alerts,
    metricsServer,
    heartbeat,
    replica,
    start: async () => {
      scheduling = true;
      await syncScheduler();
    },
    cancelAll: () => jobs.abortAll(new SnapbotError("stopped", "cancelled: snapbot was stopped while it ran")),
    close: async () => {
      await replica.stop(); // the leader's work stops; its leases and its leadership go at once
      heartbeat?.stop();
      void metricsServer?.close();
      clearInterval(prober);
      void scheduler.stop();
      targets.close();
      await ledger.close();
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
  // The alerts are recorded in the order the ledger changed (full, then writable), each after the one before.
  let told: Promise<void> = Promise.resolve();
  const tell = (record: () => Promise<void>) => {
    told = told.then(record).catch((e: unknown) => log.warn({ err: errorMessage(e) }, "could not record the ledger's alert"));
  };
  const full = (message: string) => {
    log.warn({ ledger: ledger.health.path }, `${message.split(":")[0]}: work that writes is refused until it can write again`);
    tell(() => alerts.ledgerFull(message));
  };
  ledger.health.onChange((e) => {
    if (e.state === "full") return full(e.message);
    log.warn({ ledger: e.path, settled: e.settled }, "the ledger can write again");
    tell(() => alerts.ledgerWritable(e.settled));
  });
  if (ledger.health.full) full(ledger.health.error().message); // it filled before anyone listened (start-up)
  const timer = setInterval(() => {
    if (ledger.health.full) void ledger.health.probe().catch((e: unknown) => log.warn({ err: errorMessage(e) }, "ledger write probe failed"));
  }, PROBE_MS);
  timer.unref(); // never what keeps the process alive
  return timer;
}
