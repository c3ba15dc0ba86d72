import type { Command, CommandContext } from "./types.ts";
import type { ServerRow, SnapshotRow } from "../db/types.ts";
import type { Reply } from "../src/reply.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { copyDoneLine } from "../src/replies/copy-replies.ts";
import { UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "copy <server>/<snap> <target> | copy <server>/<snap> [<remote>[:<name>]]";

// Two kinds of copy share the verb: a stored snapshot (archive…) to a storage target, and a backend's snapshot to
// another server of that backend (LXD: a remote). A bare name that is a configured storage target means the
// storage copy; `<remote>:<name>` (with the colon) is always a remote, so a remote named like a target stays reachable.

export const copy: Command = {
  name: "copy",
  usage,
  summary: "copy a snapshot to a storage target (storage.targets), or an LXD snapshot to another LXD server (default: its snapshot_server)",
  role: "operator",
  async run(ctx, args) {
    const [ref, given] = expectPositionals(args, 1, 2, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    if (given !== undefined && ctx.engine.targets.get(given)) return toTarget(ctx, server, snapshot, given);
    const driver = ctx.drivers.get(server);
    if (!driver.copy && driver.storedIn) {
      const names = ctx.engine.targets.names();
      const known = names.length ? `targets: ${names.join(", ")}` : "no storage.targets are configured";
      throw new UserError("not_capable", `${server.name} (${server.driver}) cannot copy snapshots to another server: name a storage target instead (${known}); usage: ${usage}`);
    }
    const target = withUsage(() => ctx.engine.copyTarget(server, given));
    const { remote, name: instance } = target;
    const { op, job } = await ctx.engine.copy(server, snapshot, target, { user: ctx.user, channel: ctx.channel });
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

/** copy <server>/<snap> <target>: every part to the target and read back there, progress in place. */
async function toTarget(ctx: CommandContext, server: ServerRow, snapshot: SnapshotRow, target: string): Promise<Reply> {
  const ref = `${server.name}/${snapshot.name}`;
  let started: Awaited<ReturnType<CommandContext["engine"]["copies"]["copy"]>>;
  try {
    started = await ctx.engine.copies.copy(server, snapshot, target, { user: ctx.user, channel: ctx.channel });
  } catch (e) {
    // A driver that copies to its own remotes, one of them named like the target: say how to reach it.
    if (e instanceof UserError && e.code === "not_stored" && ctx.drivers.get(server).copy)
      throw new UserError(e.code, `${e.message} (${target} is a storage target here: a remote of that name is ${target}:${server.name})`);
    throw e;
  }
  const { op, job } = started;
  return jobReply(job, {
    what: `copy ${ref} to ${target}`,
    who: ctx.user,
    opId: op.id,
    now: ctx.clock.now,
    retry: `copy ${ref} ${target}`,
    done: (row) => ({
      tone: "success",
      title: `${ref} copied to ${target} (operation #${op.id}, asked by ${mention(ctx.user)})`,
      lines: [copyDoneLine(row)],
      buttons: [{ label: "Copies", command: `copies ${ref}` }],
    }),
  });
}

/** A missing target is a usage mistake: the line ends with the usage to type. */
function withUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError && e.code === "missing_argument") throw new UserError(e.code, `${e.message}; usage: ${usage}`);
    throw e;
  }
}
