import type { Command, CommandContext } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf, snapshotOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { capabilityOf } from "../src/engine/snapshot-handle.ts";
import { refuseIfHostKeyChanged } from "../src/engine/host-keys.ts";
import type { ServerRow } from "../db/types.ts";
import { approvalRequest } from "../src/replies/approval-replies.ts";
import { snapshotLine } from "../src/replies/snapshot-replies.ts";

const usage = "restore <server>/<snap> [--to <server>] [--target <dir>] [--force] [--dry-run]";

export const restore: Command = {
  name: "restore",
  usage,
  summary: "put a snapshot back over its server, or onto another with --to (needs another person's approval)",
  role: "operator",
  flags: { to: "value", target: "value", force: "bool", "dry-run": "bool" },
  run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = snapshotOf(ctx, ref!, usage);
    capabilityOf(ctx.drivers.get(server), "restore", server);
    const dest = args.flags.to ? destinationOf(ctx, server, String(args.flags.to)) : server;
    if (args.flags.force) throw new UserError("not_needed", `--force is for application-state archives; ${server.name} (${server.driver}) does not need it: drop --force`);
    const target = args.flags.target as string | undefined;
    if (target !== undefined && !target.startsWith("/")) throw new UserError("bad_target", `--target must be an absolute folder, e.g. --target /srv/restore`);
    if (snapshot.state === "broken") throw new UserError("broken", `${server.name}/${snapshot.name} is broken: it will never be used to restore; pick another with list ${server.name}`);
    if (snapshot.state !== "done") throw new UserError("not_restorable", `${server.name}/${snapshot.name} is ${snapshot.state}: only done snapshots can be restored`);
    // tar: the snapshot's paths are written at the same paths on the destination; raw: the destination's own device.
    const raw = modeOf(server) === "raw";
    const paths = raw ? String(dest.settings.device ?? "") : ((server.settings.paths as string[] | undefined) ?? []).join(", ");
    const from = dest === server ? "" : ` from ${server.name}/${snapshot.name}`;
    const overwrites = target
      ? `files extracted under ${target} on ${dest.name}${from}`
      : raw
        ? `${paths} on ${dest.name}${from} (the whole device is overwritten)`
        : `${paths} on ${dest.name}${from} (files in the snapshot are overwritten; newer files are kept)`;
    if (args.flags["dry-run"])
      return {
        visibility: "ephemeral",
        tone: "info",
        title: `Dry run: restore ${snapshotLine(snapshot)}`,
        lines: [`would verify every part, then write ${overwrites}`, "it would need an approver other than you", "Nothing was changed."],
      };
    const { approval, op } = ctx.engine.approvals.request({ kind: "restore", server, snapshot, args: { ...(target ? { target } : {}), ...(dest === server ? {} : { to: dest.name }) }, user: ctx.user, channel: ctx.channel });
    const reply = approvalRequest({ approval, op, server, snapshot, action: `restore ${server.name}/${snapshot.name}${dest === server ? "" : ` --to ${dest.name}`}`, overwrites, now: ctx.clock.now() });
    return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
  },
};

const modeOf = (s: ServerRow) => String(s.settings.mode ?? "tar");

/** restore --to: another archive server of the same mode, whose paths (tar) or device (raw) receive the snapshot. */
function destinationOf(ctx: CommandContext, source: ServerRow, name: string): ServerRow {
  const dest = serverOf(ctx, name);
  if (dest.id === source.id) return source;
  if (source.driver !== "archive" || dest.driver !== "archive")
    throw new UserError("bad_destination", `restore --to works between archive servers: ${source.name} is ${source.driver}, ${dest.name} is ${dest.driver}`);
  if (modeOf(source) !== modeOf(dest))
    throw new UserError("bad_destination", `${source.name} is a ${modeOf(source)} archive and ${dest.name} a ${modeOf(dest)} one: restore --to needs two servers of the same mode`);
  capabilityOf(ctx.drivers.get(dest), "restore", dest);
  refuseIfHostKeyChanged(ctx.ledger, dest);
  return dest;
}
