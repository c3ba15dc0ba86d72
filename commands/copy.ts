import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { checkName } from "../src/names.ts";
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
    const to = given ?? (server.settings.snapshot_server as string | undefined);
    if (!to) throw new UserError("missing_argument", `${server.name} has no snapshot_server in the config: name the target; usage: ${usage}`);
    const [remote, name] = to.split(":", 2) as [string, string | undefined];
    checkName("server", remote);
    const instance = name ? checkName("server", name) : String(server.settings.instance ?? server.name);
    const { op, job } = ctx.engine.copy(server, snapshot, { remote, name: instance }, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `copy ${server.name}/${snapshot.name} to ${remote}:${instance}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      retry: `copy ${ref} ${to}`,
      done: (res) => ({ tone: res.warnings.length ? "info" : "success", title: `${res.summary} (operation #${op.id}, asked by ${mention(ctx.user)})`, lines: res.warnings.map((w) => `warning: ${w}`) }),
    });
  },
};
