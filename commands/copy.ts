import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "copy <server>/<snap> [<remote>[:<name>]]";

export const copy: Command = {
  name: "copy",
  usage,
  summary: "copy a snapshot to another LXD server, by default its snapshot_server (profiles first, autostart off, later copies refresh)",
  role: "operator",
  run(ctx, args) {
    const [ref, given] = expectPositionals(args, 1, 2, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    const target = withUsage(() => ctx.engine.copyTarget(server, given));
    const { remote, name: instance } = target;
    const { op, job } = ctx.engine.copy(server, snapshot, target, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `copy ${server.name}/${snapshot.name} to ${remote}:${instance}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      retry: `copy ${ref} ${given ?? `${remote}:${instance}`}`,
      done: (res) => ({ tone: res.warnings.length ? "info" : "success", title: `${res.summary} (operation #${op.id}, asked by ${mention(ctx.user)})`, lines: res.warnings.map((w) => `warning: ${w}`) }),
    });
  },
};

/** A missing target is a usage mistake: the line ends with the usage to type. */
function withUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError && e.code === "missing_argument") throw new UserError(e.code, `${e.message}; usage: ${usage}`);
    throw e;
  }
}
