import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { removeSchedule } from "../src/engine/schedule/schedules.ts";
import { unscheduledReply } from "../src/replies/schedule-replies.ts";
import { unscheduleTargetReply } from "./schedule-target.ts";

const usage = "unschedule <server> | unschedule --target <target>";

export const unschedule: Command = {
  name: "unschedule",
  usage,
  summary: "stop a server's schedule (its snapshots stay), or a storage target's verification schedule (--target)",
  role: "operator",
  flags: { target: "value" },
  async run(ctx, args) {
    if (args.flags.target !== undefined) return unscheduleTargetReply(ctx, args, usage);
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = await serverOf(ctx, name!);
    const row = await removeSchedule({ ...ctx }, server, { user: ctx.user, channel: ctx.channel });
    return unscheduledReply(row, ctx.user);
  },
};
