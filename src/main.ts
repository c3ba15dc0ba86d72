import type { Logger } from "pino";
import { ConfigError, loadConfig, type Config } from "./config/load-config.ts";
import { ensureDemoFolder } from "./config/demo-config.ts";
import { createLogger } from "./log/logger.ts";
import { systemClock } from "./clock.ts";
import { createLocalRunner } from "./transport/local-runner.ts";
import { createApp } from "./app.ts";
import { runConsole } from "./chat/console/console-adapter.ts";
import { createConsoleChat } from "./chat/console/console-chat.ts";
import { startSlack } from "./chat/slack/start-slack.ts";
import { runCommand } from "../commands/index.ts";
import { DEMO_READ_ONLY } from "../commands/roles.ts";
import { reconcileReply } from "./replies/reconcile-replies.ts";
import { LedgerPathError } from "../db/ledger-file.ts";

// The one place process.env is read.
async function main(): Promise<number> {
  const config = loadConfig(process.env);
  const consoleMode = config.chat.mode === "console";
  const log = createLogger({ level: consoleMode ? (process.env.LOG_LEVEL ?? "warn") : config.logLevel, pretty: consoleMode });
  if (config.demo) ensureDemoFolder(process.cwd());
  return consoleMode ? consoleMain(config, log) : slackMain(config, log);
}

async function consoleMain(config: Config, log: Logger): Promise<number> {
  const chat = createConsoleChat(process.stdout);
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: chat.port });
  app.scheduler.start();
  process.stderr.write(`snapbot console: ledger ${config.dbPath}, config ${config.source}. Type /snapshot help; /as <user>; /click <n>.\n`);
  const report = reconcileReply(app.reconciled);
  if (report) await chat.show(report);
  const stop = () => {
    log.warn("stopping: interrupted operations will be marked failed at the next start");
    process.exit(130);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  await runConsole({
    input: process.stdin,
    chat,
    user: process.env.SNAPBOT_USER ?? "console",
    run: (req) => runCommand(app, req),
    idle: async () => {
      await app.engine.idle();
      await app.scheduler.settle();
      await app.alerts.flush();
    },
    waitEach: !process.stdin.isTTY,
  });
  app.close();
  return 0;
}

/** Slack mode runs until SIGTERM or SIGINT, then stops gracefully; a second signal exits at once. */
async function slackMain(config: Config, log: Logger): Promise<number> {
  // Listening for signals before start-up: one that arrives while starting still stops gracefully.
  const stopSignal = new Promise<NodeJS.Signals>((res) => process.once("SIGTERM", res).once("SIGINT", res));
  const bot = await startSlack({ config, log, clock: systemClock, runner: createLocalRunner(log) });
  log.info({ ledger: config.dbPath, config: config.source }, "snapbot started");
  if (config.readOnly) log.warn(`read-only: only list, show, servers, help… run; ${DEMO_READ_ONLY}`);
  const report = reconcileReply(bot.app.reconciled);
  if (report) {
    log.warn({ operations: bot.app.reconciled.operations.length, snapshots: bot.app.reconciled.snapshots.length }, report.title);
    if (config.alerts.channel) await bot.chat.post(config.alerts.channel, report);
  }
  const signal = await stopSignal;
  log.info({ signal }, "stopping: waiting for running operations");
  const force = () => {
    log.warn("stopping now: interrupted operations will be marked failed at the next start");
    process.exit(130);
  };
  process.once("SIGINT", force).once("SIGTERM", force);
  await bot.stop();
  return 0;
}

// A bad config or SNAPBOT_DB is the user's to fix: one line naming the file and the reason, exit 2.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const usage = e instanceof ConfigError || e instanceof LedgerPathError;
    process.stderr.write(`snapbot: ${usage ? "" : "failed to start: "}${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(usage ? 2 : 1);
  },
);
