import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { formatAge, formatBytes } from "../src/duration.ts";
import { clip } from "../src/replies/format.ts";

const usage = "verify <server>/<snap> [--full]";

export const verify: Command = {
  name: "verify",
  usage,
  summary: "re-read a snapshot and check every part against its manifest (--full: also decrypt and decompress it)",
  role: "operator",
  flags: { full: "bool" },
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    const full = args.flags.full === true;
    const { op, job } = ctx.engine.verify(server, snapshot, { user: ctx.user, channel: ctx.channel }, { full });
    const what = `verify ${server.name}/${snapshot.name}${full ? " --full" : ""}`;
    return jobReply(job, {
      what,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      done: (res, tookMs) =>
        res.ok
          ? {
              tone: "success",
              title: `${server.name}/${snapshot.name} verified: ${formatBytes(res.checkedBytes)} checked in ${formatAge(tookMs)}, every part matches (operation #${op.id})`,
              ...(res.notes?.length ? { lines: res.notes } : {}),
            }
          : {
              tone: "error",
              title: `${server.name}/${snapshot.name} is broken (operation #${op.id}): it will not be used to restore`,
              lines: res.problems.slice(0, 20).map((p) => clip(p, 300)).concat(res.problems.length > 20 ? [`…and ${res.problems.length - 20} more`] : []),
              buttons: [{ label: "Delete", command: `delete ${server.name}/${snapshot.name}`, style: "danger" }],
            },
    });
  },
};
