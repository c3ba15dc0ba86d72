import type { Command, CommandContext } from "./types.ts";
import type { ServerRow, SnapshotRow } from "../db/types.ts";
import type { Reply } from "../src/reply.ts";
import { actionOf, approvalRequest } from "../src/replies/approval-replies.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { snapshotLine } from "../src/replies/snapshot-replies.ts";
import { utc } from "../src/replies/format.ts";
import { UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "delete <server>/<snap> [--subtree] [--dry-run]";

export const deleteCommand: Command = {
  name: "delete",
  usage,
  summary: "delete a snapshot's files and mark it deleted; --subtree (with everything below it) needs approval",
  role: "operator",
  flags: { subtree: "bool", "dry-run": "bool" },
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    if (snapshot.state === "deleted") throw new UserError("already_deleted", `${server.name}/${snapshot.name} is already deleted`);
    if (args.flags.subtree) return subtree(ctx, server, snapshot, !!args.flags["dry-run"]);
    refuseIfAwaitingApproval(ctx, server, [snapshot]);
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
      done: () => ({ tone: "success", title: `${server.name}/${snapshot.name} deleted (operation #${op.id}, asked by ${mention(ctx.user)})` }),
    });
  },
};

/** delete --subtree: the snapshot and everything below it, after another person approves. */
function subtree(ctx: CommandContext, server: ServerRow, snapshot: SnapshotRow, dryRun: boolean): Reply {
  if (!["done", "broken", "failed"].includes(snapshot.state))
    throw new UserError("not_deletable", `${server.name}/${snapshot.name} is ${snapshot.state}: wait for it to finish, then delete it`);
  const all = ctx.ledger.snapshots.subtree(snapshot.id);
  refuseIfAwaitingApproval(ctx, server, all);
  const names = all.map((s) => s.name).reverse().join(", ");
  const overwrites = `${all.length} snapshot(s) of ${server.name} deleted: ${names}`;
  if (dryRun) return { visibility: "ephemeral", tone: "info", title: `Dry run: delete --subtree ${server.name}/${snapshot.name}`, lines: [`would delete ${names}`, "it would need an approver other than you", "Nothing was changed."] };
  const { approval, op } = ctx.engine.approvals.request({ kind: "delete", server, snapshot, args: { subtree: true }, user: ctx.user, channel: ctx.channel });
  const reply = approvalRequest({ approval, op, server, snapshot, action: `delete --subtree ${server.name}/${snapshot.name}`, overwrites, now: ctx.clock.now() });
  return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
}

/** Retention keeps what a pending request names; a delete does too, or the approval would later fail on a missing snapshot. */
function refuseIfAwaitingApproval(ctx: CommandContext, server: ServerRow, snapshots: SnapshotRow[]): void {
  for (const s of snapshots) {
    const a = ctx.ledger.approvals.pendingFor(s.id);
    if (!a) continue;
    const what = actionOf(ctx.ledger.operations.get(a.operation_id)!);
    throw new UserError(
      "awaiting_approval",
      `${server.name}/${s.name} is waiting on approval #${a.id} (${what}, asked by ${mention(a.requested_by)}): ` +
        `deny ${a.id} first, or wait until it expires at ${utc(a.expires_at)}`,
    );
  }
}
