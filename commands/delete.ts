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
import { requireTree, subtreeOf } from "../src/engine/operations/tree.ts";

const usage = "delete <server>/<snap> [--subtree] [--dry-run]";

export const deleteCommand: Command = {
  name: "delete",
  usage,
  summary: "delete a snapshot's files and mark it deleted; --subtree (with everything below it) needs approval",
  role: "operator",
  flags: { subtree: "bool", "dry-run": "bool" },
  async run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    if (snapshot.state === "deleted") throw new UserError("already_deleted", `${server.name}/${snapshot.name} is already deleted`);
    if (args.flags.subtree) return subtree(ctx, server, snapshot, !!args.flags["dry-run"]);
    await refuseIfAwaitingApproval(ctx, server, [snapshot]);
    if (args.flags["dry-run"])
      return {
        visibility: "ephemeral",
        tone: "info",
        title: `Dry run: would delete ${snapshotLine(snapshot)}`,
        lines: [snapshot.location ? `files: ${snapshot.location}` : "no files are stored for it", ...(await childrenLine(ctx, snapshot)), "Nothing was changed."],
      };
    const { op, job } = await ctx.engine.delete(server, snapshot, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `delete ${server.name}/${snapshot.name}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      done: () => ({ tone: "success", title: `${server.name}/${snapshot.name} deleted (operation #${op.id}, asked by ${mention(ctx.user)})` }),
    });
  },
};

/** delete --subtree (tree servers): the snapshot and everything below it, leaves first, after another person approves. */
async function subtree(ctx: CommandContext, server: ServerRow, snapshot: SnapshotRow, dryRun: boolean): Promise<Reply> {
  const ref = `${server.name}/${snapshot.name}`;
  requireTree(ctx, server, "--subtree", `delete the snapshot alone with delete ${ref}`);
  if (!["done", "broken", "failed"].includes(snapshot.state))
    throw new UserError("not_deletable", `${ref} is ${snapshot.state}: wait for it to finish, then delete it`);
  const all = await subtreeOf(ctx.ledger, snapshot);
  await refuseIfAwaitingApproval(ctx, server, all);
  const names = all.map((s) => s.name);
  const what = `${all.length} snapshot(s) of ${server.name}, leaves first: ${names.join(", ")}`;
  if (dryRun)
    return { visibility: "ephemeral", tone: "info", title: `Dry run: delete --subtree ${ref}`, lines: [`would delete ${what}`, "it would need an approver other than you", "Nothing was changed."] };
  // The names approved are recorded: if the subtree differs when the approval comes, nothing is deleted.
  const args = { subtree: true, snapshots: names };
  const { approval, op } = await ctx.engine.approvals.request({ kind: "delete", server, snapshot, args, user: ctx.user, channel: ctx.channel });
  const reply = approvalRequest({ approval, op, server, snapshot, action: `delete --subtree ${ref}`, overwrites: `deleted: ${what}`, now: ctx.clock.now() });
  return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
}

/** A single delete on a tree: what happens to the snapshot's children (they go to its parent). */
async function childrenLine(ctx: CommandContext, snapshot: SnapshotRow): Promise<string[]> {
  const kids = await ctx.ledger.tree.children(snapshot.id);
  if (kids.length === 0) return [];
  const parent = snapshot.parent_id === null ? undefined : await ctx.ledger.snapshots.get(snapshot.parent_id);
  return [`its children ${kids.map((k) => k.name).join(", ")} would go under ${parent ? parent.name : "the root"}`];
}

/** Retention keeps what a pending request names; a delete does too, or the approval would later fail on a missing snapshot. */
async function refuseIfAwaitingApproval(ctx: CommandContext, server: ServerRow, snapshots: SnapshotRow[]): Promise<void> {
  for (const s of snapshots) {
    const a = await ctx.ledger.approvals.pendingFor(s.id);
    if (!a) continue;
    const what = actionOf((await ctx.ledger.operations.get(a.operation_id))!);
    throw new UserError(
      "awaiting_approval",
      `${server.name}/${s.name} is waiting on approval #${a.id} (${what}, asked by ${mention(a.requested_by)}): ` +
        `deny ${a.id} first, or wait until it expires at ${utc(a.expires_at)}`,
    );
  }
}
