import type { CommandContext } from "./types.ts";
import type { ServerRow, SnapshotRow } from "../db/types.ts";
import type { RestoreOptions } from "../src/drivers/driver.ts";
import type { Reply } from "../src/reply.ts";
import { describeRestoreOn } from "../src/engine/operations/restore-options.ts";
import { approvalRequest } from "../src/replies/approval-replies.ts";
import { snapshotLine } from "../src/replies/snapshot-replies.ts";
import type { CopySource } from "../src/engine/copies/copy-source.ts";

// What restore and revert share once the snapshot is chosen: the driver says what will be written, then a dry run
// says so, or a request waits for another person's approval (an approved request runs as a restore either way).

export interface RestoreAsk {
  server: ServerRow; // the snapshot's server
  snapshot: SnapshotRow;
  dest: ServerRow; // the server written (restore --to: another one)
  opts: RestoreOptions;
  action: string; // "restore vm/s1", "revert vm (back to vm/s1)"
  dryRun: boolean;
  /** Recorded with the request (revert: true; from: the target), for the audit log and the approved run. */
  args?: Record<string, unknown>;
  /** restore --from: the copy read, by the destination's driver on the target's store. */
  from?: CopySource;
}

export async function requestRestore(ctx: CommandContext, a: RestoreAsk): Promise<Reply> {
  const driver = a.from?.driver ?? ctx.drivers.get(a.dest);
  // The destination's driver says what it will write (paths, device, image file, instance), never the command;
  // from a copy, it reads the copy's manifest on the target (no local location).
  const plan = await describeRestoreOn(driver, a.dest, a.from ? { ...a.snapshot, location: null } : a.snapshot, a.opts);
  if (a.dryRun)
    return {
      visibility: "ephemeral",
      tone: "info",
      title: `Dry run: ${a.action.startsWith("restore ") ? `restore ${snapshotLine(a.snapshot)}${a.from ? ` from the copy on ${a.from.target.name}` : ""}` : a.action}`,
      lines: [`would write ${plan.writes}`, ...plan.notes, "it would need an approver other than you", "Nothing was changed."],
    };
  const request = { kind: "restore" as const, server: a.server, snapshot: a.snapshot, args: { ...a.opts, ...a.args }, user: ctx.user, channel: ctx.channel };
  const { approval, op } = await ctx.engine.approvals.request(request);
  const { writes: overwrites, notes, bytes } = plan;
  const copy = a.from?.copy;
  const reply = approvalRequest({ approval, op, server: a.server, snapshot: a.snapshot, action: a.action, overwrites, notes, bytes, now: ctx.clock.now(), copy });
  return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
}
