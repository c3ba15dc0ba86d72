import type { Command } from "./types.ts";
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
  run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = serverOf(ctx, name!);
    const schedule = ctx.ledger.schedules.forServer(server.id);
    if (schedule)
      throw new UserError("has_schedule", `${server.name} has a schedule ("${schedule.cron}"${schedule.native ? ", run by LXD" : ""}): unschedule ${server.name} first`);
    // Taking the lease proves nothing runs on it, and keeps anything from starting meanwhile.
    const lease = ctx.engine.lease(server.name, `unregister ${server.name}`);
    try {
      ctx.ledger.tx(() => {
        ctx.ledger.servers.unregister(server.name);
        ctx.ledger.operations.insert({ kind: "unregister", server_id: server.id, requested_by: ctx.user, channel: ctx.channel, state: "succeeded", result: "unregistered" });
      });
    } finally {
      ctx.engine.release(lease);
    }
    return { visibility: "channel", tone: "success", title: `${server.name} unregistered by ${mention(ctx.user)}; its snapshot files and history are kept` };
  },
};
