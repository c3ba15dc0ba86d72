import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { checkName } from "../src/names.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "clone <server>/<snap> <new-server>";

export const clone: Command = {
  name: "clone",
  usage,
  summary: "a new server from a snapshot, registered with its lineage; shared host keys are alerted",
  role: "operator",
  async run(ctx, args) {
    const [ref, newName] = expectPositionals(args, 2, 2, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    checkName("server", newName!);
    const { op, job } = await ctx.engine.clone(server, snapshot, newName!, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `clone ${server.name}/${snapshot.name} to ${newName}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      done: (res) => ({
        tone: res.sharedWith.length ? "info" : "success",
        title: `${res.clone.name} cloned from ${server.name}/${snapshot.name} and registered (operation #${op.id}, asked by ${mention(ctx.user)})`,
        lines: res.sharedWith.length ? [`it shares SSH host keys with ${res.sharedWith.join(", ")}: see the hostkey_regen_needed alert, or run hostkeys regen ${res.clone.name}`] : [],
      }),
    });
  },
};
