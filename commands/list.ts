import type { Command, CommandContext } from "./types.ts";
import type { ServerRow } from "../db/types.ts";
import type { Reply } from "../src/reply.ts";
import { expectPositionals } from "./parse.ts";
import { historyServerOf, positiveInt } from "./lookup.ts";
import { PAGE_SIZE, snapshotList, unregisteredLine } from "../src/replies/snapshot-replies.ts";
import { UserError } from "../src/errors.ts";
import { snapshotTree } from "../src/replies/tree-replies.ts";
import { requireTree } from "../src/engine/operations/tree.ts";
import type { SnapshotState } from "../db/states.ts";
import { snapshotMachine } from "../db/states.ts";

const usage = "list <server> [--tree] [--state <state>] [--all] [--page <n>]";
const STATES = Object.keys(snapshotMachine) as SnapshotState[];

export const list: Command = {
  name: "list",
  usage,
  summary: "list a server's snapshots, newest first, 50 a page",
  role: "operator",
  readOnly: true,
  flags: { tree: "bool", state: "value", all: "bool", page: "value" },
  async run(ctx, args) {
    const [name] = expectPositionals(args, 1, 1, usage);
    const server = await historyServerOf(ctx, name!);
    const state = args.flags.state as string | undefined;
    if (state !== undefined && !STATES.includes(state as SnapshotState))
      throw new UserError("bad_state", `unknown state "${state}": use one of ${STATES.join(", ")}`);
    const page = positiveInt(args.flags.page, "--page", 1_000_000, 1);
    if (args.flags.tree) return tree(ctx, server, page, state !== undefined || !!args.flags.all);
    // An unregistered server's backend is not asked: its history is shown as the ledger kept it.
    if (server.removed_at === null) await ctx.engine.sync(server); // a backend with its own snapshots (LXD): made or deleted outside snapbot
    const { rows, total } = await ctx.ledger.snapshots.list(server.id, {
      state: state as SnapshotState | undefined,
      all: !!args.flags.all,
      limit: PAGE_SIZE,
      offset: (page - 1) * PAGE_SIZE,
    });
    const base = ["list", server.name, state ? `--state ${state}` : "", args.flags.all ? "--all" : ""].filter(Boolean).join(" ");
    if (rows.length === 0 && total > 0) throw new UserError("bad_page", `there are only ${Math.ceil(total / PAGE_SIZE)} page(s): try ${base}`);
    const reply = snapshotList(server, rows, { page, total, command: base }, ctx.clock.now());
    return server.removed_at === null ? reply : { ...reply, lines: [unregisteredLine(server), ...(reply.lines ?? [])] };
  },
};

/** list --tree: every live snapshot drawn as the tree it is, ● on the current position, paged like list. */
async function tree(ctx: CommandContext, server: ServerRow, page: number, filtered: boolean): Promise<Reply> {
  requireTree(ctx, server, "list --tree", `use list ${server.name}`);
  if (filtered) throw new UserError("bad_flags", `list --tree draws every live snapshot: drop --state and --all, or drop --tree`);
  if (server.removed_at === null) await ctx.engine.sync(server); // made, deleted or applied outside snapbot (virsh)
  const current = await ctx.ledger.tree.currentId(server.id);
  const nodes = (await ctx.ledger.tree.nodes(server.id)).map((n) => ({
    id: n.id, name: n.name, parentId: n.parent_id, current: n.id === current, state: n.state, createdAt: n.created_at, origin: n.origin,
  }));
  const reply = snapshotTree(nodes, page, server.name);
  return server.removed_at === null ? reply : { ...reply, lines: [unregisteredLine(server), ...(reply.lines ?? [])] };
}
