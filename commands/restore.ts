import type { Command, CommandContext } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf, snapshotOf } from "./lookup.ts";
import { UserError } from "../src/errors.ts";
import { capabilityOf } from "../src/engine/operations/snapshot-handle.ts";
import { refuseIfHostKeyChanged } from "../src/engine/host-keys/host-keys.ts";
import type { RestoreOptions } from "../src/drivers/driver.ts";
import type { ServerRow } from "../db/types.ts";
import { requestRestore } from "./restore-request.ts";
import { copySource } from "../src/engine/copies/copy-source.ts";
import { LOCAL_TARGET } from "../src/storage/storage-targets.ts";

const usage = "restore <server>/<snap> [--from <target>] [--to <server>] [--target <dir>] [--force] [--dry-run]";

export const restore: Command = {
  name: "restore",
  usage,
  summary: "put a snapshot back over its server, or onto another with --to (needs another person's approval)",
  role: "operator",
  flags: { from: "value", to: "value", target: "value", force: "bool", "dry-run": "bool" },
  async run(ctx, args) {
    const [ref] = expectPositionals(args, 1, 1, usage);
    const { server, snapshot } = await snapshotOf(ctx, ref!, usage);
    capabilityOf(ctx.drivers.get(server), "restore", server);
    const dest = args.flags.to ? await destinationOf(ctx, server, String(args.flags.to)) : server;
    const driver = ctx.drivers.get(dest);
    // --force is the grammar's "application state onto a target that is not clean": only drivers that check cleanness take it.
    if (args.flags.force && !driver.features?.restoreForce)
      throw new UserError(
        "not_needed",
        `--force is for application-state restores onto a target that is not clean; ${dest.name} (${driver.kind}) does not need it: drop --force`,
      );
    const target = args.flags.target as string | undefined;
    if (target !== undefined && !target.startsWith("/")) throw new UserError("bad_target", `--target must be an absolute folder, e.g. --target /srv/restore`);
    const name = `${server.name}/${snapshot.name}`;
    // --from: the copy on that target is what is read (the local one may be deleted or broken): its state counts.
    const fromName = args.flags.from === LOCAL_TARGET ? undefined : (args.flags.from as string | undefined);
    const from = fromName === undefined ? undefined : await copySource({ targets: ctx.engine.targets, drivers: ctx.drivers, ledger: ctx.ledger }, snapshot, dest, fromName);
    const copies = (await ctx.ledger.copies.ofSnapshot(snapshot.id)).filter((c) => c.state === "done").map((c) => c.target);
    const useCopy = copies.length ? `; its copy on ${copies[0]} can be: restore ${name} --from ${copies[0]}` : `; pick another with list ${server.name}`;
    if (!from && snapshot.state === "broken") throw new UserError("broken", `${name} is broken: it will never be used to restore${useCopy}`);
    if (!from && snapshot.state !== "done") throw new UserError("not_restorable", `${name} is ${snapshot.state}: only done snapshots can be restored${copies.length ? useCopy : ""}`);
    const opts: RestoreOptions = {
      ...(target ? { target } : {}),
      ...(dest === server ? {} : { to: dest.name }),
      ...(args.flags.force ? { force: true } : {}),
    };
    const action = `restore ${name}${dest === server ? "" : ` --to ${dest.name}`}${from ? ` from the copy on ${from.target.name}` : ""}`;
    const extra = from ? { from: from.target.name } : undefined;
    return requestRestore(ctx, { server, snapshot, dest, opts, action, dryRun: !!args.flags["dry-run"], from, args: extra });
  },
};

/** restore --to: another server of the same driver, which says itself whether it can take the snapshot. */
async function destinationOf(ctx: CommandContext, source: ServerRow, name: string): Promise<ServerRow> {
  const dest = await serverOf(ctx, name);
  if (dest.id === source.id) return source;
  const [from, to] = [ctx.drivers.get(source).kind, ctx.drivers.get(dest).kind];
  if (from !== to)
    throw new UserError("bad_destination", `restore --to needs two servers of the same driver: ${source.name} is ${from}, ${dest.name} is ${to}`);
  capabilityOf(ctx.drivers.get(dest), "restore", dest);
  await refuseIfHostKeyChanged(ctx.ledger, dest);
  return dest;
}
