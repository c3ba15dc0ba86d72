import type { Logger } from "pino";
import type { Ledger } from "../db/ledger.ts";
import type { Config } from "../src/config/load-config.ts";
import type { Engine } from "../src/engine/engine.ts";
import type { DriverRegistry } from "../src/drivers/registry.ts";
import type { Clock } from "../src/clock.ts";
import type { Reply } from "../src/reply.ts";
import type { ChatPort } from "../src/chat/chat-port.ts";
import type { Scheduler } from "../src/engine/schedule/scheduler.ts";
import type { FlagSpec, ParsedArgs } from "./parse.ts";

export type Role = "admin" | "approver" | "operator";

export interface AppDeps {
  config: Config;
  ledger: Ledger;
  engine: Engine;
  drivers: DriverRegistry;
  clock: Clock;
  log: Logger;
  chat: ChatPort;
  scheduler: Scheduler;
}

/** Per request: who asks, where, and the app's dependencies (Probot-style context). */
export interface CommandContext extends AppDeps {
  user: string;
  channel: string | null;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  role: Role;
  flags?: FlagSpec;
  pairs?: boolean; // accepts key=value
  hidden?: boolean; // not listed in help
  /** Changes nothing (for these arguments): runs on a read-only bot and while the ledger's disk is full. Absent: it changes things. */
  readOnly?: true | ((args: ParsedArgs) => boolean);
  run(ctx: CommandContext, args: ParsedArgs): Reply | Promise<Reply>;
}
