import type { Command, CommandContext } from "./types.ts";
import type { ServerRow, SnapshotRow } from "../db/types.ts";
import { hasTree } from "../src/engine/operations/tree.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { snapshotDetail, type TreePlace } from "../src/replies/snapshot-replies.ts";
import { ago } from "../src/replies/format.ts";

const usage = "show <server>/<snap>";

export const show: Command = {
  name: "show",
  usage,
  summary: "everything the ledger knows about one snapshot",
  role: "operator",
  readOnly: true,
  async run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage, true);
    return snapshotDetail(snapshot, ctx.clock.now(), server, await treePlace(ctx, server, snapshot), await copiesLine(ctx, snapshot));
  },
};

/** On a tree server, a live snapshot's parent, children and whether it is the current position. */
async function treePlace(ctx: CommandContext, server: ServerRow, snap: SnapshotRow): Promise<TreePlace | undefined> {
  if (["deleted", "failed", "expired"].includes(snap.state) || !ctx.drivers.module(server.driver)) return undefined;
  if (!hasTree(ctx, server)) return undefined;
  const parent = snap.parent_id === null ? undefined : await ctx.ledger.snapshots.get(snap.parent_id);
  return {
    parent: parent?.name ?? null,
    children: (await ctx.ledger.tree.children(snap.id)).map((c) => c.name),
    current: (await ctx.ledger.tree.currentId(server.id)) === snap.id,
  };
}

/** Its live copies on storage targets, for one line of show (copies <server>/<snap> has the whole story). */
async function copiesLine(ctx: CommandContext, snap: SnapshotRow): Promise<string | undefined> {
  const now = ctx.clock.now();
  const live = (await ctx.ledger.copies.ofSnapshot(snap.id)).filter((c) => ["running", "done", "broken", "deleting"].includes(c.state));
  if (live.length === 0) return undefined;
  return live.map((c) => `${c.target}: ${c.state}${c.verified_at ? `, verified ${ago(now, c.verified_at)}` : ""}`).join("; ");
}

/** `inspect` is show's synonym (DESIGN.md §2), as `consul snapshot inspect` users type it. */
export const inspect: Command = { ...show, name: "inspect", summary: "the same as show", hidden: true };
