import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { copiesReply } from "../src/replies/copy-replies.ts";

const usage = "copies <server>/<snap>";

export const copies: Command = {
  name: "copies",
  usage,
  summary: "where a snapshot's copies on storage targets are: their state, size and when each was last verified",
  role: "operator",
  readOnly: true,
  async run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    // Copies outlive their snapshot and its server's registration: a deleted snapshot's copies are found too.
    const { snapshot } = await snapshotOf(ctx, ref!, usage, true);
    return copiesReply(snapshot, await ctx.ledger.copies.ofSnapshot(snapshot.id), ctx.clock.now(), ctx.engine.targets.names());
  },
};
