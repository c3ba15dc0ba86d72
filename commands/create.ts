import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { checkName } from "../src/names.ts";
import { addDuration, parseExpiry } from "../src/duration.ts";
import { UserError } from "../src/errors.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { withCopies } from "../src/replies/copy-replies.ts";
import { size, shortHash, utc } from "../src/replies/format.ts";
import { formatAge } from "../src/duration.ts";
import { mention } from "../src/replies/mention.ts";
import { detailNotes } from "../src/replies/snapshot-replies.ts";

const usage = "create <server> [<name>] [--expiry <dur>] [--stateful] [--note <text>]";

export const create: Command = {
  name: "create",
  usage,
  summary: "take a snapshot now",
  role: "operator",
  flags: { expiry: "value", stateful: "bool", note: "value" },
  async run(ctx, args) {
    const [serverName, name] = expectPositionals(args, 1, 2, usage);
    const server = await serverOf(ctx, serverName!);
    if (name !== undefined) checkName("snapshot", name);
    const expiry = args.flags.expiry;
    const expiresAt = typeof expiry === "string" ? addDuration(ctx.clock.now(), parseExpiry(expiry)) : null;
    if (args.flags.stateful && !ctx.drivers.features(server).stateful)
      throw new UserError("not_capable", `${server.name} (${server.driver}) cannot take stateful snapshots: drop --stateful`);
    const note = typeof args.flags.note === "string" ? args.flags.note.slice(0, 500) : null;
    await ctx.engine.makeRoom(server, { user: ctx.user, channel: ctx.channel });
    const { op, job, snapshot, copies } = await ctx.engine.create({ server, name, expiresAt, note, stateful: !!args.flags.stateful, user: ctx.user, channel: ctx.channel });
    // With `copies:`, the same message goes on to tell each copy's progress once the snapshot is done.
    const reply = jobReply(job, {
      what: `create ${server.name}/${snapshot.name}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      retry: `create ${server.name}${name ? ` ${name}` : ""}`,
      done: (s, tookMs) => ({
        tone: "success",
        title: `${s.server}/${s.name} done: ${size(s.size)} in ${formatAge(tookMs)} (operation #${op.id}, asked by ${mention(ctx.user)})`,
        lines: [
          `checksum ${shortHash(s.checksum)}, ${s.checksums?.length ?? 0} part(s)${s.expires_at ? `, expires ${utc(s.expires_at)}` : ""}`,
          ...(typeof s.details?.hooks === "string" ? [s.details.hooks] : []), // which hooks ran, how long
          ...detailNotes(s),
        ],
      }),
    });
    return withCopies(reply, `${server.name}/${snapshot.name}`, copies);
  },
};
