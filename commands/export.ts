import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { formatAge } from "../src/duration.ts";
import { UserError } from "../src/errors.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../src/drivers/driver.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "export <server>/<snap> --format vmdk|vhd|qcow2";

export const exportCommand: Command = {
  name: "export",
  usage,
  summary: "convert a raw snapshot into a disk image for another hypervisor, beside the snapshot",
  role: "operator",
  flags: { format: "value" },
  async run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const format = args.flags.format;
    if (format === undefined) throw new UserError("missing_argument", `export needs --format; usage: ${usage}`);
    if (typeof format !== "string" || !(EXPORT_FORMATS as readonly string[]).includes(format))
      throw new UserError("bad_format", `cannot export to "${String(format).slice(0, 40)}": pick vmdk, vhd or qcow2; usage: ${usage}`);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    const { op, job } = await ctx.engine.export(server, snapshot, format as ExportFormat, { user: ctx.user, channel: ctx.channel });
    return jobReply(job, {
      what: `export ${server.name}/${snapshot.name} to ${format}`,
      who: ctx.user,
      opId: op.id,
      now: ctx.clock.now,
      retry: `export ${ref} --format ${format}`,
      done: (res, tookMs) => ({
        tone: "success",
        title: `${server.name}/${snapshot.name} exported to ${format} in ${formatAge(tookMs)} (operation #${op.id}, asked by ${mention(ctx.user)})`,
        lines: [`file: ${res.file}`, `sha256: ${res.sha256}`],
      }),
    });
  },
};
