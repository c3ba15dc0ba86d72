import { join } from "node:path";
import { pino, type Logger } from "pino";
import type { S3Tuning } from "../../src/storage/s3-client.ts";
import { fileSchemaFor } from "../../src/config/schema.ts";
import type { DriverModule } from "../../src/drivers/driver.ts";
import { BUILTIN_DRIVERS } from "../../src/drivers/index.ts";
import type { Config } from "../../src/config/load-config.ts";
import { createApp } from "../../src/app.ts";
import { systemClock, type Clock } from "../../src/clock.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { runCommand } from "../../commands/index.ts";
import { silentChat, type ChatPort } from "../../src/chat/chat-port.ts";
import { plainReply } from "./plain-reply.ts";

/** A real app (real SQLite file, real drivers) in `dir`, from a config written as the YAML would be. */
export interface TestAppOptions {
  /** Drivers besides the built-in ones (a test's own DriverModule). */
  drivers?: readonly DriverModule[];
  /** Where the config's credentials (a target's access_key_env…) are read; process.env unless given. */
  env?: Record<string, string | undefined>;
  /** The app's logger (a test that captures pino output); silent unless given. */
  log?: Logger;
  /** S3 targets' request sizes, retries and timeouts (tests shorten them). */
  s3Tuning?: Partial<S3Tuning>;
  /** The ledger: a PostgreSQL database's URL (freshDatabase); a SQLite file in `dir` unless given. */
  postgres?: string;
}

export async function testApp(dir: string, file: unknown, clock: Clock = systemClock, chat: ChatPort = silentChat, opts: TestAppOptions = {}) {
  const drivers = [...BUILTIN_DRIVERS, ...(opts.drivers ?? [])];
  const parsed = fileSchemaFor(drivers).parse(file);
  const config: Config = {
    ...parsed,
    storage: { ...parsed.storage, path: parsed.storage.path.startsWith("/") ? parsed.storage.path : join(dir, parsed.storage.path) },
    source: "test",
    demo: false,
    ledger: opts.postgres ? { backend: "postgres", url: opts.postgres } : { backend: "sqlite", path: join(dir, "ledger.db") },
    logLevel: "silent",
    chat: { mode: "console", port: 0 },
    metricsPort: null,
  };
  const log = opts.log ?? pino({ level: "silent" });
  const app = await createApp(config, { log, clock, runner: createLocalRunner(log), chat, drivers, env: opts.env, s3Tuning: opts.s3Tuning });
  // As the console shows it (people as plain ids); test/slack/ and block-kit tests check Slack's mentions.
  const run = async (text: string, user = "U1") => plainReply(await runCommand(app, { user, channel: "C1", text }));
  return { app, run };
}
