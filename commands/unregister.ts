import type { Command } from "./types.ts";
import type { ScheduleRow } from "../db/ledger.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "unregister <server>";

export const unregister: Command = {
  name: "unregister",
  usage,
  summary: "remove a server; its snapshots and history stay in the ledger (admins)",
  role: "admin",
  async run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = await serverOf(ctx, name!);
    const hasSchedule = (schedule: ScheduleRow) =>
      new UserError("has_schedule", `${server.name} has a schedule ("${schedule.cron}"${schedule.native ? ", run by LXD" : ""}): unschedule ${server.name} first`);
    const schedule = await ctx.ledger.schedules.forServer(server.id);
    if (schedule) throw hasSchedule(schedule);
    // Taking the lease proves nothing runs on it, and keeps anything from starting meanwhile.
    const lease = await ctx.engine.lease(server.name, `unregister ${server.name}`);
    try {
      await ctx.ledger.tx(async (t) => {
        // Read again with the write: a schedule set since the check above must not be left on an unregistered server.
        const since = await t.schedules.forServer(server.id);
        if (since) throw hasSchedule(since);
        await t.servers.unregister(server.name);
        await t.operations.insert({ kind: "unregister", server_id: server.id, requested_by: ctx.user, channel: ctx.channel, state: "succeeded", result: "unregistered" });
      });
    } finally {
      ctx.engine.release(lease);
    }
    return { visibility: "channel", tone: "success", title: `${server.name} unregistered by ${mention(ctx.user)}; its snapshot files and history are kept` };
  },
};
