import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { snapshotLine } from "../src/replies/snapshot-replies.ts";
import { UserError } from "../src/errors.ts";

const usage = "delete <server>/<snap> [--subtree] [--dry-run]";

export const deleteCommand: Command = {
  name: "delete",
  usage,
  summary: "delete a snapshot's files and mark it deleted in the ledger",
  role: "operator",
  flags: { subtree: "bool", "dry-run": "bool" },
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    if (args.flags.subtree) throw new UserError("not_available", "delete --subtree needs approvals, not available yet: delete snapshots one by one");
    if (snapshot.state === "deleted") throw new UserError("already_deleted", `${server.name}/${snapshot.name} is already deleted`);
    if (args.flags["dry-run"])
      return {
        visibility: "ephemeral",
        tone: "info",
        title: `Dry run: would delete ${snapshotLine(snapshot)}`,
        lines: [snapshot.location ? `files: ${snapshot.location}` : "no files are stored for it", "Nothing was changed."],
      };
    const { op, job } = ctx.engine.delete(server, snapshot, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `delete ${server.name}/${snapshot.name}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      done: () => ({ tone: "success", title: `${server.name}/${snapshot.name} deleted (operation #${op.id}, asked by ${ctx.user})` }),
    });
  },
};
