import { ConfigError, loadConfig } from "./config/load-config.ts";
import { ensureDemoFolder } from "./config/demo-config.ts";
import { createLogger } from "./log/logger.ts";
import { systemClock } from "./clock.ts";
import { createLocalRunner } from "./transport/local-runner.ts";
import { createApp } from "./app.ts";
import { runConsole } from "./chat/console/console-adapter.ts";
import { createConsoleChat } from "./chat/console/console-chat.ts";
import { runCommand } from "../commands/index.ts";
import { reconcileReply } from "./replies/reconcile-replies.ts";

// The one place process.env is read.
async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`snapbot: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const consoleMode = config.chat.mode === "console";
  const log = createLogger({ level: consoleMode ? (process.env.LOG_LEVEL ?? "warn") : config.logLevel, pretty: consoleMode });
  if (!consoleMode) {
    process.stderr.write("snapbot: Slack mode is not available yet: unset SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_SIGNING_SECRET to use the console\n");
    return 2;
  }
  if (config.demo) ensureDemoFolder(process.cwd());
  const chat = createConsoleChat(process.stdout);
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: chat.port });
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
    idle: () => app.engine.idle(),
    waitEach: !process.stdin.isTTY,
  });
  app.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`snapbot: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
