import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { thresholds } from "../src/engine/schedule/freshness.ts";
import { schedulesReply } from "../src/replies/schedule-replies.ts";

export const schedules: Command = {
  name: "schedules",
  usage: "schedules",
  summary: "list the schedules: next and last run, retention, expiry; and each storage target's verification schedule",
  role: "operator",
  readOnly: true,
  async run(ctx, args) {
    expectPositionals(args, 0, 0, "schedules");
    const views = (await ctx.ledger.schedules.live()).map((row) => {
      const e = ctx.scheduler.entry(row.server_id);
      return { row, next: e && !row.native ? e.next : null, ...(e ? thresholds(e) : { warnMs: 0, critMs: 0 }) };
    });
    const targets = (await ctx.ledger.targetSchedules.live()).map((row) => ({ row, next: ctx.scheduler.rounds.entry(row.target)?.next ?? null }));
    return schedulesReply(views, ctx.clock.now(), targets);
  },
};
