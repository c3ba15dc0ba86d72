import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";

const usage = "unregister <server>";

export const unregister: Command = {
  name: "unregister",
  usage,
  summary: "remove a server; its snapshots and history stay in the ledger (admins)",
  role: "admin",
  run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = serverOf(ctx, name!);
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
    return { visibility: "channel", tone: "success", title: `${server.name} unregistered by ${ctx.user}; its snapshot files and history are kept` };
  },
};
