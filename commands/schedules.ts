import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { thresholds } from "../src/engine/schedule/freshness.ts";
import { schedulesReply } from "../src/replies/schedule-replies.ts";

export const schedules: Command = {
  name: "schedules",
  usage: "schedules",
  summary: "list the schedules: next and last run, retention, expiry",
  role: "operator",
  readOnly: true,
  run(ctx, args) {
    expectPositionals(args, 0, 0, "schedules");
    const views = ctx.ledger.schedules.live().map((row) => {
      const e = ctx.scheduler.entry(row.server_id);
      return { row, next: e && !row.native ? e.next : null, ...(e ? thresholds(e) : { warnMs: 0, critMs: 0 }) };
    });
    return schedulesReply(views, ctx.clock.now());
  },
};
