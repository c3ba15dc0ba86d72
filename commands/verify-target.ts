import type { CommandContext } from "./types.ts";
import type { ParsedArgs } from "./parse.ts";
import type { Reply } from "../src/reply.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { targetVerifiedReply } from "../src/replies/target-verify-replies.ts";
import { parseSlice } from "../src/engine/copies/target-slices.ts";
import { targetVerifyLabel } from "../src/engine/copies/verify-target.ts";
import { UserError } from "../src/errors.ts";

// verify --target <target> [--slice n/m]: the whole target (or one slice of it) re-read as one operation, progress in
// place. The mistakes each get one line with the usage: a snapshot named too, --from, a bad slice, an unknown target.

export async function verifyTargetReply(ctx: CommandContext, args: ParsedArgs, usage: string): Promise<Reply> {
  const target = args.flags.target as string;
  const [ref] = args.positionals;
  if (target.includes("/"))
    throw new UserError(
      "bad_target",
      `--target takes a storage target (offsite, or local), not a snapshot: verify ${target} --from <target> reads one copy; usage: ${usage}`,
    );
  if (ref !== undefined)
    throw new UserError("extra_argument", `verify --target reads a whole target: drop ${ref}, or drop --target to verify that one snapshot; usage: ${usage}`);
  if (args.flags.from !== undefined)
    throw new UserError("bad_flag", `--from picks one snapshot's copy: verify --target ${target} reads the target itself, so drop --from; usage: ${usage}`);
  const slice = args.flags.slice === undefined ? null : parseSlice(String(args.flags.slice), usage);
  let started;
  try {
    started = await ctx.engine.copies.verifyTarget({ target, slice }, { user: ctx.user, channel: ctx.channel });
  } catch (e) {
    if (e instanceof UserError && e.code === "unknown_target") throw new UserError(e.code, `${e.message}; local is storage.path; usage: ${usage}`);
    throw e;
  }
  const { op, job } = started;
  return jobReply(job, {
    what: targetVerifyLabel(target, slice),
    who: ctx.user,
    opId: op.id,
    now: ctx.clock.now,
    retry: targetVerifyLabel(target, slice),
    done: (v, tookMs) => targetVerifiedReply(v, op.id, tookMs),
  });
}
