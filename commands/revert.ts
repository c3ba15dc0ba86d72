import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { capabilityOf } from "../src/engine/operations/snapshot-handle.ts";
import { requireTree } from "../src/engine/operations/tree.ts";
import { requestRestore } from "./restore-request.ts";

const usage = "revert <server> [--dry-run]";

// CloudCIX's "revert": back to the current snapshot, dropping the changes made since. It is a restore of
// that snapshot (the same approval, the same run), so only its choice of snapshot is its own.

export const revert: Command = {
  name: "revert",
  usage,
  summary: "back to the current snapshot, dropping changes since (a restore of it; needs another person's approval)",
  role: "operator",
  flags: { "dry-run": "bool" },
  async run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = await serverOf(ctx, name!);
    requireTree(ctx, server, "revert", `restore a snapshot instead: restore ${server.name}/<snap> (list ${server.name} shows them)`);
    capabilityOf(ctx.drivers.get(server), "restore", server);
    const snapshot = await ctx.ledger.tree.current(server.id);
    if (!snapshot)
      throw new UserError("no_current", `${server.name} has no current snapshot to go back to: take one with create ${server.name}, or restore one with restore ${server.name}/<snap>`);
    if (snapshot.state === "broken")
      throw new UserError("broken", `${server.name}'s current snapshot ${snapshot.name} is broken: it will never be used to restore; pick another with list ${server.name} --tree`);
    if (snapshot.state !== "done") throw new UserError("not_restorable", `${server.name}/${snapshot.name} is ${snapshot.state}: wait for it to finish, then revert`);
    const action = `revert ${server.name} (back to ${server.name}/${snapshot.name})`;
    return requestRestore(ctx, { server, snapshot, dest: server, opts: {}, action, dryRun: !!args.flags["dry-run"], args: { revert: true } });
  },
};
