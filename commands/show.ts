import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { snapshotDetail } from "../src/replies/snapshot-replies.ts";

const usage = "show <server>/<snap>";

export const show: Command = {
  name: "show",
  usage,
  summary: "everything the ledger knows about one snapshot",
  role: "operator",
  readOnly: true,
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage, true);
    return snapshotDetail(snapshot, ctx.clock.now(), server);
  },
};
