import type { Command } from "./types.ts";
import type { VerifyResult } from "../src/drivers/driver.ts";
import type { Reply } from "../src/reply.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { formatAge, formatBytes } from "../src/duration.ts";
import { clip } from "../src/replies/format.ts";
import { LOCAL_TARGET } from "../src/storage/storage-targets.ts";
import { UserError } from "../src/errors.ts";
import { verifyTargetReply } from "./verify-target.ts";

const usage = "verify <server>/<snap> [--full] [--from <target>] | verify --target <target> [--slice n/m]";

export const verify: Command = {
  name: "verify",
  usage,
  summary: "re-read a snapshot and check every part against its manifest (--full: also decrypt and decompress it; --from: its copy on a storage target; --target: a whole target, or one --slice of it)",
  role: "operator",
  flags: { full: "bool", from: "value", target: "value", slice: "value" },
  async run(ctx, args) {
    if (args.flags.target !== undefined) return verifyTargetReply(ctx, args, usage);
    if (args.flags.slice !== undefined)
      throw new UserError("slice_needs_target", `--slice needs --target: verify --target <target> --slice n/m reads one slice of a whole target; usage: ${usage}`);
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    const from = args.flags.from === LOCAL_TARGET ? undefined : (args.flags.from as string | undefined);
    const asker = { user: ctx.user, channel: ctx.channel };
    const opts = { full: args.flags.full === true };
    const { op, job } = from ? await ctx.engine.copies.verify(server, snapshot, from, asker, opts) : await ctx.engine.verify(server, snapshot, asker, opts);
    const name = `${server.name}/${snapshot.name}`;
    return jobReply<VerifyResult>(job, {
      what: `verify ${name}${opts.full ? " --full" : ""}${from ? ` --from ${from}` : ""}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      done: (res, tookMs) => (from ? copyVerified(name, from, op.id, res, tookMs) : verified(name, op.id, res, tookMs)),
    });
  },
};

// verify --full says what it read beyond the hashes (decrypted, decompressed) as the reply's lines.
const notes = (res: VerifyResult) => (res.notes?.length ? { lines: res.notes } : {});

function verified(name: string, opId: number, res: VerifyResult, tookMs: number): Omit<Reply, "visibility"> {
  if (res.ok)
    return { tone: "success", title: `${name} verified: ${formatBytes(res.checkedBytes)} checked in ${formatAge(tookMs)}, every part matches (operation #${opId})`, ...notes(res) };
  return {
    tone: "error",
    title: `${name} is broken (operation #${opId}): it will not be used to restore`,
    lines: problemLines(res),
    buttons: [{ label: "Delete", command: `delete ${name}`, style: "danger" }],
  };
}

/** The reply says which copy was read: the one on the target, not the local one. */
function copyVerified(name: string, from: string, opId: number, res: VerifyResult, tookMs: number): Omit<Reply, "visibility"> {
  if (res.ok)
    return {
      tone: "success",
      title: `the copy of ${name} on ${from} verified: ${formatBytes(res.checkedBytes)} checked in ${formatAge(tookMs)}, every part matches (operation #${opId})`,
      ...notes(res),
    };
  return {
    tone: "error",
    title: `the copy of ${name} on ${from} is broken (operation #${opId}): it will not be used to restore`,
    lines: problemLines(res),
    buttons: [{ label: "Copy again", command: `copy ${name} ${from}` }],
  };
}

const problemLines = (res: VerifyResult) => res.problems.slice(0, 20).map((p) => clip(p, 300)).concat(res.problems.length > 20 ? [`…and ${res.problems.length - 20} more`] : []);
