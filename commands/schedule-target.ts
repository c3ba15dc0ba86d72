import type { CommandContext } from "./types.ts";
import type { ParsedArgs } from "./parse.ts";
import type { Reply } from "../src/reply.ts";
import { UserError } from "../src/errors.ts";
import { parseSliceCount } from "../src/engine/copies/target-slices.ts";
import { removeTargetSchedule, setTargetSchedule } from "../src/engine/schedule/target-schedules.ts";
import { targetScheduledReply, targetUnscheduledReply } from "../src/replies/target-schedule-replies.ts";

// schedule --target <target> "<cron>" [--slices m] and unschedule --target <target>: a storage target re-read in
// slices on a schedule, each run the next slice (verify --target <t> --slice n/m), the round kept in the ledger.

const SERVER_ONLY = ["pattern", "expiry", "keep", "warn", "crit", "native"];

export async function scheduleTargetReply(ctx: CommandContext, args: ParsedArgs, usage: string): Promise<Reply> {
  const target = checkedTarget(args.flags.target as string, usage);
  const other = SERVER_ONLY.find((f) => args.flags[f] !== undefined);
  if (other) throw new UserError("bad_flag", `--${other} is for a server's snapshots: schedule --target takes "<cron>" and --slices only; usage: ${usage}`);
  const cronWords = args.positionals;
  // The cron is quoted ("0 3 * * *"); five unquoted fields are taken as typed too. No server: the target is the subject.
  if (cronWords.length !== 1 && cronWords.length !== 5)
    throw new UserError("usage", `schedule --target takes the target and "<cron>", no server (e.g. schedule --target offsite "@daily" --slices 7); usage: ${usage}`);
  const slices = parseSliceCount(args.flags.slices, usage);
  const input = { target, cron: cronWords.join(" ").trim(), slices };
  const asker = { user: ctx.user, channel: ctx.channel };
  const { schedule: row, replaced } = await withUsage(usage, () => setTargetSchedule({ ...ctx, targets: ctx.engine.targets }, input, asker));
  return targetScheduledReply({ row, next: ctx.scheduler.rounds.entry(row.target)?.next ?? null }, replaced);
}

export async function unscheduleTargetReply(ctx: CommandContext, args: ParsedArgs, usage: string): Promise<Reply> {
  const target = checkedTarget(args.flags.target as string, usage);
  if (args.positionals.length) throw new UserError("extra_argument", `unschedule --target takes no server: drop ${args.positionals[0]}; usage: ${usage}`);
  const row = await removeTargetSchedule({ ...ctx, targets: ctx.engine.targets }, target, { user: ctx.user, channel: ctx.channel });
  return targetUnscheduledReply(row, ctx.user);
}

function checkedTarget(target: string, usage: string): string {
  if (target.includes("/")) throw new UserError("bad_target", `--target takes a storage target (offsite, or local), not a snapshot; usage: ${usage}`);
  return target;
}

/** An unknown target or a bad cron: the line ends with the usage to type. */
async function withUsage<T>(usage: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UserError && !e.message.includes("usage:")) throw new UserError(e.code, `${e.message}; usage: ${usage}`);
    throw e;
  }
}
