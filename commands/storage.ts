import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { parseSnapshotRef } from "../src/names.ts";
import { UserError } from "../src/errors.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { formatAge, formatBytes } from "../src/duration.ts";
import { storageRemovePlan, storageRemoved, storageScanReply } from "../src/replies/storage-replies.ts";

const usage = "storage scan | storage adopt <server>/<snap> | storage remove <server>/<snap> [--dry-run]";

export const storage: Command = {
  name: "storage",
  usage,
  summary: "folders in storage the ledger does not know (scan): adopt them as snapshots, or remove them (admins)",
  role: "admin",
  flags: { "dry-run": "bool" },
  async run(ctx, args) {
    const [sub, ref] = expectPositionals(args, 1, 2, usage);
    const asker = { user: ctx.user, channel: ctx.channel };
    if (sub === "scan" && ref === undefined) {
      const { unknown, scanners } = await ctx.engine.storage.scan();
      const entries = [];
      for (const f of unknown) entries.push({ stored: f.stored, registered: (await ctx.ledger.servers.get(f.stored.server)) !== undefined });
      return storageScanReply(entries, scanners);
    }
    if (sub === "remove" && ref !== undefined) {
      const r = parseSnapshotRef(ref, usage);
      const target = { server: r.server, name: r.snapshot };
      if (args.flags["dry-run"]) return storageRemovePlan((await ctx.engine.storage.find(target)).stored);
      return storageRemoved((await ctx.engine.storage.remove(target, asker)).stored, ctx.user);
    }
    if (sub === "adopt" && ref !== undefined && !args.flags["dry-run"]) {
      const r = parseSnapshotRef(ref, usage);
      const { op, job } = await ctx.engine.storage.adopt({ server: r.server, name: r.snapshot }, asker);
      return jobReply(job, {
        what: `storage adopt ${ref}`,
        who: ctx.user,
        opId: op.id,
        now: ctx.clock.now,
        done: (snap, tookMs) => ({
          tone: "success",
          title: `${ref} adopted: every part verified in ${formatAge(tookMs)} (${formatBytes(snap.size ?? 0)}); it is a done snapshot now`,
          buttons: [{ label: "Show", command: `show ${snap.server}/${snap.name}` }],
        }),
      });
    }
    throw new UserError("bad_subcommand", `usage: ${usage}`);
  },
};
