import type { Logger } from "pino";
import { ConfigError, loadConfig, type Config } from "./config/load-config.ts";
import { ensureDemoFolder } from "./config/demo-config.ts";
import { createLogger } from "./log/logger.ts";
import { safeOutput } from "./log/safe-output.ts";
import { systemClock } from "./clock.ts";
import { createLocalRunner } from "./transport/local-runner.ts";
import { createApp, type App } from "./app.ts";
import { runConsole } from "./chat/console/console-adapter.ts";
import { createConsoleChat, type ConsoleChat } from "./chat/console/console-chat.ts";
import { createScreen, type Screen } from "./chat/console/screen.ts";
import { startSlack } from "./chat/slack/start-slack.ts";
import { runCommand } from "../commands/index.ts";
import { DEMO_READ_ONLY } from "../commands/roles.ts";
import { reconcileReply } from "./replies/reconcile-replies.ts";
import { LedgerPathError } from "../db/sqlite/ledger-file.ts";
import { SnapbotError } from "./errors.ts";
import { describeLocation } from "../db/open-ledger.ts";
import { listenForStop, within, type StopSignals } from "./stop-signals.ts";

const GRACE_MS = 25_000; // a stop waits this long for running operations (Slack mode's stopTimeoutMs too)
const CANCEL_MS = 5_000; // a forced stop waits this long for cancelled operations to kill and clean up
// Whatever reads stdout/stderr may be gone or stuck: writes never block, and are flushed, bounded, at exit.
const stdout = safeOutput(process.stdout);
const stderr = safeOutput(process.stderr);
let forced = false; // a forced stop exits 130, even when the graceful one finishes meanwhile

// The one place process.env is read.
async function main(): Promise<number> {
  // The AWS SDK warns on stderr about Node versions it will stop supporting; snapbot's own stderr lines are its to write.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const config = loadConfig(process.env);
  const signals = listenForStop(() => process.exit(130));
  if (config.chat.mode !== "console") return slackMain(config, createLogger({ level: config.logLevel }), signals);
  const screen = createScreen();
  const prettySink = screen.sink(stderr, Boolean(process.stderr.isTTY));
  const log = createLogger({ level: process.env.LOG_LEVEL ?? "warn", pretty: true, prettySink });
  if (config.demo) ensureDemoFolder(process.cwd());
  return consoleMain(config, log, signals, screen);
}

/** Console mode stops as Slack mode does: the first signal waits (bounded) for running work, a second cancels it. */
async function consoleMain(config: Config, log: Logger, signals: StopSignals, screen: Screen): Promise<number> {
  const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const chat = createConsoleChat(screen.sink(stdout, terminal));
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: chat.port });
  await app.start();
  stderr.write(`snapbot console: ledger ${describeLocation(config.ledger)}, config ${config.source}. Type /snapshot help; /as <user>; /click <n>.\n`);
  const report = reconcileReply(app.reconciled);
  if (report) await chat.show(report);
  const stopping = new AbortController();
  const stopped = signals.first.then(() => {
    chat.say(`• stopping: waiting up to ${GRACE_MS / 1000}s for running operations; Ctrl-C again cancels them and stops at once`);
    stopping.abort();
    void app.scheduler.stop(); // no new scheduled work
  });
  signals.onForce(() => void cancelAndExit(app, chat, "stopping now"));
  const session = runConsole({
    input: process.stdin,
    chat,
    user: process.env.SNAPBOT_USER ?? "console",
    run: (req) => runCommand(app, req),
    idle: async () => {
      await app.engine.idle();
      await app.scheduler.settle();
      await app.alerts.flush();
    },
    waitEach: !terminal,
    terminal: terminal ? { output: process.stdout, screen, onInterrupt: () => signals.raise("SIGINT") } : undefined,
    stop: stopping.signal,
  });
  const finished = await Promise.race([session.then(() => true), stopped.then(() => within(session, GRACE_MS))]);
  if (!finished) await cancelAndExit(app, chat, `still running after ${GRACE_MS / 1000}s`);
  await app.close();
  return 0;
}

/** A forced stop: running operations are cancelled (processes killed, partial files removed), then exit. */
async function cancelAndExit(app: App, chat: ConsoleChat, why: string): Promise<never> {
  forced = true;
  chat.say(`✖ ${why}: cancelling running operations`);
  await within(app.cancelAll(), CANCEL_MS);
  return exit(130);
}

/** Slack mode runs until SIGTERM or SIGINT, then stops gracefully; a second signal cancels the work and exits. */
async function slackMain(config: Config, log: Logger, signals: StopSignals): Promise<number> {
  // Listening for signals before start-up: one that arrives while starting still stops gracefully.
  const bot = await startSlack({ config, log, clock: systemClock, runner: createLocalRunner(log), stopTimeoutMs: GRACE_MS });
  log.info({ ledger: describeLocation(config.ledger), config: config.source }, "snapbot started");
  if (config.readOnly) log.warn(`read-only: only list, show, servers, help… run; ${DEMO_READ_ONLY}`);
  const report = reconcileReply(bot.app.reconciled);
  if (report) {
    log.warn({ operations: bot.app.reconciled.operations.length, snapshots: bot.app.reconciled.snapshots.length }, report.title);
    if (config.alerts.channel) await bot.chat.post(config.alerts.channel, report);
  }
  signals.onForce(() => {
    forced = true;
    log.warn("stopping now: cancelling running operations; anything cut short is marked failed at the next start");
    void within(bot.app.cancelAll(), CANCEL_MS).then(() => exit(130));
  });
  const signal = await signals.first;
  log.info({ signal }, "stopping: waiting for running operations");
  await bot.stop();
  return 0;
}

/** Exits after what was queued for stdout/stderr reached its reader, or a short bound when nobody reads. */
async function exit(code: number): Promise<never> {
  await Promise.all([stdout.flush(1000), stderr.flush(1000)]);
  process.exit(forced ? 130 : code);
}

// A bad config or SNAPBOT_DB is the user's to fix: one line naming the file and the reason, exit 2.
main().then(
  (code) => exit(code),
  (e: unknown) => {
    const usage = e instanceof ConfigError || e instanceof LedgerPathError || (e instanceof SnapbotError && (e.code === "bad_config" || e.code === "ledger_unreachable"));
    stderr.write(`snapbot: ${usage ? "" : "failed to start: "}${e instanceof Error ? e.message : String(e)}\n`);
    return exit(usage ? 2 : 1);
  },
);
