import type { Command } from "./types.ts";
import { serverOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { durationMs, parseDuration } from "../src/duration.ts";
import { parseKeep } from "../src/retention/keep-policy.ts";
import { setSchedule } from "../src/engine/schedule/schedules.ts";
import { thresholds } from "../src/engine/schedule/freshness.ts";
import { scheduledReply } from "../src/replies/schedule-replies.ts";
import { scheduleTargetReply } from "./schedule-target.ts";

const usage =
  'schedule <server> "<cron>" [--pattern <p>] [--expiry <dur>] [--keep last=N,daily=N,…,parents=prune] [--warn <dur>] [--crit <dur>] [--native] | schedule --target <target> "<cron>" [--slices m]';

const text = (v: string | true | undefined, flag: string): string | null => {
  if (v === undefined) return null;
  if (v === true || v.trim() === "") throw new UserError("missing_value", `--${flag} needs a value: ${usage}`);
  return v.trim();
};

export const schedule: Command = {
  name: "schedule",
  usage,
  summary: "take snapshots on a schedule (cron or @daily…), with LXD-style names and expiry and restic-style --keep; --target: re-read a storage target in slices",
  role: "operator",
  flags: { pattern: "value", expiry: "value", keep: "value", warn: "value", crit: "value", native: "bool", target: "value", slices: "value" },
  async run(ctx, args) {
    if (args.flags.target !== undefined) return scheduleTargetReply(ctx, args, usage);
    if (args.flags.slices !== undefined)
      throw new UserError("slices_need_target", `--slices goes with --target: schedule --target <target> "<cron>" --slices m re-reads a storage target in slices; usage: ${usage}`);
    const [serverName, ...cronWords] = args.positionals;
    // The cron is quoted ("0 3 * * *"); five unquoted fields are taken as typed too.
    if (!serverName || (cronWords.length !== 1 && cronWords.length !== 5))
      throw new UserError("usage", `usage: ${usage} (e.g. schedule web-1 "0 3 * * *" --keep daily=7,weekly=4)`);
    const server = await serverOf(ctx, serverName);
    const keep = text(args.flags.keep, "keep");
    const warn = text(args.flags.warn, "warn");
    const crit = text(args.flags.crit, "crit");
    const input = {
      cron: cronWords.join(" ").trim(),
      pattern: text(args.flags.pattern, "pattern"),
      expiry: text(args.flags.expiry, "expiry"),
      keep: keep === null ? null : parseKeep(keep),
      native: args.flags.native === true,
      warnMs: warn === null ? null : durationMs(parseDuration(warn)),
      critMs: crit === null ? null : durationMs(parseDuration(crit)),
    };
    const { schedule: row, replaced } = await setSchedule({ ...ctx }, server, input, { user: ctx.user, channel: ctx.channel });
    const entry = ctx.scheduler.entry(server.id);
    const t = entry ? thresholds(entry) : { warnMs: 0, critMs: 0 };
    return scheduledReply({ row, next: row.native ? null : (entry?.next ?? null), ...t }, replaced);
  },
};
