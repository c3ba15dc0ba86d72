import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { snapshotOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { capabilityOf } from "../src/engine/snapshot-handle.ts";
import { approvalRequest } from "../src/replies/approval-replies.ts";
import { snapshotLine } from "../src/replies/snapshot-replies.ts";

const usage = "restore <server>/<snap> [--to <server>] [--target <dir>] [--force] [--dry-run]";

export const restore: Command = {
  name: "restore",
  usage,
  summary: "put a snapshot back over its server (needs another person's approval)",
  role: "operator",
  flags: { to: "value", target: "value", force: "bool", "dry-run": "bool" },
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    capabilityOf(ctx.drivers.get(server), "restore", server);
    if (args.flags.to) throw new UserError("not_available", "restore --to another server arrives with SSH servers, not available yet: restore onto the same server");
    if (args.flags.force) throw new UserError("not_needed", `--force is for application-state archives; ${server.name} (${server.driver}) does not need it: drop --force`);
    const target = args.flags.target as string | undefined;
    if (target !== undefined && !target.startsWith("/")) throw new UserError("bad_target", `--target must be an absolute folder, e.g. --target /srv/restore`);
    if (snapshot.state === "broken") throw new UserError("broken", `${server.name}/${snapshot.name} is broken: it will never be used to restore; pick another with list ${server.name}`);
    if (snapshot.state !== "done") throw new UserError("not_restorable", `${server.name}/${snapshot.name} is ${snapshot.state}: only done snapshots can be restored`);
    const paths = ((server.settings.paths as string[] | undefined) ?? [String(server.settings.device ?? "")]).join(", ");
    const overwrites = target ? `files extracted under ${target} on ${server.name}` : `${paths} on ${server.name} (files in the snapshot are overwritten; newer files are kept)`;
    if (args.flags["dry-run"])
      return {
        visibility: "ephemeral",
        tone: "info",
        title: `Dry run: restore ${snapshotLine(snapshot)}`,
        lines: [`would verify every part, then write ${overwrites}`, "it would need an approver other than you", "Nothing was changed."],
      };
    const { approval, op } = ctx.engine.approvals.request({ kind: "restore", server, snapshot, args: target ? { target } : {}, user: ctx.user, channel: ctx.channel });
    const reply = approvalRequest({ approval, op, server, snapshot, action: `restore ${server.name}/${snapshot.name}`, overwrites, now: ctx.clock.now() });
    return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
  },
};
