import type { AppDeps, Command } from "./types.ts";
import type { Reply } from "../src/reply.ts";
import { errorReply } from "../src/reply.ts";
import { parseArgs, tokenize } from "./parse.ts";
import { changesNothing, requireRole, requireWritable } from "./roles.ts";
import { isUserError, SnapbotError, UserError } from "../src/errors.ts";
import { helpCommand } from "./help.ts";
import { servers } from "./servers.ts";
import { register } from "./register.ts";
import { unregister } from "./unregister.ts";
import { create } from "./create.ts";
import { list } from "./list.ts";
import { inspect, show } from "./show.ts";
import { verify } from "./verify.ts";
import { deleteCommand } from "./delete.ts";
import { audit } from "./audit.ts";
import { restore } from "./restore.ts";
import { revert } from "./revert.ts";
import { copy } from "./copy.ts";
import { copies } from "./copies.ts";
import { clone } from "./clone.ts";
import { exportCommand } from "./export.ts";
import { hostkeys } from "./hostkeys.ts";
import { approve, deny } from "./decide.ts";
import { approvals } from "./approvals.ts";
import { schedule } from "./schedule.ts";
import { schedules } from "./schedules.ts";
import { unschedule } from "./unschedule.ts";
import { prune } from "./prune.ts";
import { alerts } from "./alerts.ts";
import { storage } from "./storage.ts";

// In the order of DESIGN.md §2, which is the order help lists them in.
const registry: Command[] = [];
registry.push(
  helpCommand(() => registry),
  servers,
  register,
  unregister,
  create,
  list,
  show,
  inspect,
  verify,
  restore,
  revert,
  deleteCommand,
  copy,
  copies,
  clone,
  exportCommand,
  schedule,
  schedules,
  unschedule,
  prune,
  hostkeys,
  alerts,
  audit,
  approvals,
  storage,
  approve,
  deny,
);

export const commands: readonly Command[] = registry;

export interface Request {
  user: string;
  channel: string | null;
  text: string; // "/snapshot create demo" or "create demo"
}

/** Turns one request into one reply. Every failure becomes a reply: a UserError as one line, anything else logged. */
export async function runCommand(deps: AppDeps, req: Request): Promise<Reply> {
  const log = deps.log.child({ user: req.user, channel: req.channel });
  try {
    const words = tokenize(req.text.replace(/^\s*\/snapshot\b/, ""));
    const name = words.shift() ?? "help";
    const command = registry.find((c) => c.name === name);
    if (!command) throw new UserError("unknown_command", `unknown command "${name.slice(0, 40)}": type help for the list`);
    requireRole(deps.config, req.user, command.role, command.name);
    const args = parseArgs(words, command.flags ?? {}, command.usage, command.pairs);
    requireWritable(deps.config, command, args);
    // While the ledger is full, work that writes is refused, unless a write probe shows it can write again.
    if (!changesNothing(command, args) && deps.ledger.health.full && !(await deps.ledger.health.probe())) throw deps.ledger.health.error();
    return await command.run({ ...deps, log, user: req.user, channel: req.channel }, args);
  } catch (e) {
    if (isUserError(e)) return errorReply(e.message);
    if (e instanceof SnapbotError && e.code !== "internal") return errorReply(e.message);
    log.error({ err: e, text: req.text }, "command failed unexpectedly");
    return errorReply("that failed on our side (the error is in the bot's log): try again, or ask an admin to look");
  }
}
