import type { OperationRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerTx } from "../../../db/ledger.ts";
import type { EngineDeps } from "../deps.ts";
import type { Lease } from "../operations/job-runner.ts";
import { failureMessage, runOperation, type OperationHandle } from "../operations/run-operation.ts";
import { capabilityOf, handleOf } from "../operations/snapshot-handle.ts";
import { SnapbotError, UserError } from "../../errors.ts";
import { errorMessage } from "../../errors.ts";
import { restoreOptionsOf } from "../operations/restore-options.ts";
import { afterRemoved, moveCurrent, subtreeOf } from "../operations/tree.ts";
import { recordAfterRestoreTo, recordAndAlert, refuseIfHostKeyChanged, resolveIfUnique } from "../host-keys/host-keys.ts";
import { copySource } from "../copies/copy-source.ts";
import { raiseCopyFailed } from "../copies/copy-alerts.ts";

// What runs once a request is approved: a restore, or a delete of a snapshot and everything below it.
// Both re-check the snapshot when they start, since the world may have moved while people decided.

export interface ApprovedWork {
  op: OperationRow;
  lease: Lease;
  server: ServerRow;
  snapshot: SnapshotRow;
}

/** hostkeys regen: new keys inside the server, recorded, and the alert resolved only if they now differ. */
export async function runRegenHostKeys(deps: EngineDeps, w: Omit<ApprovedWork, "snapshot">): Promise<OperationHandle<string>> {
  const driver = deps.drivers.get(w.server);
  const regen = capabilityOf(driver, "regenHostKeys", w.server);
  return runOperation<string>(deps, {
    existing: { op: w.op, lease: w.lease },
    server: w.server,
    kind: "hostkeys_regen",
    label: `hostkeys regen ${w.server.name}`,
    user: w.op.requested_by,
    args: w.op.args ?? {},
    work: async (ctx) => {
      const keys = await regen.call(driver, ctx);
      await deps.ledger.hostKeys.record(w.server.id, keys);
      const unique = await resolveIfUnique(deps, w.server);
      const prints = keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ");
      const summary = unique ? `new host keys: ${prints}` : `new host keys (${prints}) but some are still shared: run hostkeys scan`;
      return { result: summary, commit: () => summary };
    },
  });
}

/** restore, or restore --to: `target` (default: the snapshot's own server) is written; the source is only read. */
export async function runRestore(deps: EngineDeps, w: ApprovedWork & { target?: ServerRow }): Promise<OperationHandle<string>> {
  const { ledger, clock } = deps;
  const target = w.target ?? w.server;
  // The destination's driver, given the source's snapshot handle: its recorded location says where the parts are.
  const driver = deps.drivers.get(target);
  capabilityOf(driver, "restore", target);
  const ref = `${w.server.name}/${w.snapshot.name}`;
  const from = typeof w.op.args?.from === "string" ? w.op.args.from : null;
  const onto = target === w.server ? "" : ` --to ${target.name}`;
  return runOperation<string>(deps, {
    existing: { op: w.op, lease: w.lease },
    server: w.server,
    kind: "restore",
    label: `restore ${ref}${onto}`,
    user: w.op.requested_by,
    args: w.op.args ?? {},
    work: async (ctx) => {
      const now = (await ledger.snapshots.get(w.snapshot.id))!;
      // --from: the copy on that target is read (the local one may be gone or broken), by the same driver on its store.
      const src = from === null ? null : await copySource(deps, now, target, from);
      if (!src && now.state !== "done") throw new UserError("not_restorable", `${ref} is ${now.state} now: it will not be restored`);
      if (target !== w.server) await refuseIfHostKeyChanged(ledger, target);
      const reader = src?.driver ?? driver;
      const done = await capabilityOf(reader, "restore", target).call(reader, src?.handle ?? handleOf(now), restoreOptionsOf(w.op.args), ctx);
      const res = { summary: src ? `${done.summary}, from the copy on ${from}` : done.summary };
      // A server re-imaged from a snapshot (its own, or another's: --to) may now present another server's host keys.
      const record = target === w.server ? recordAndAlert(deps, target, ctx) : recordAfterRestoreTo(deps, w.server, target, ctx);
      await record.catch((e: unknown) => ctx.log.warn({ err: errorMessage(e) }, "host keys not recorded after the restore"));
      const commit = async (t: LedgerTx) => {
        // Every part was verified before anything was written: of the copy, or of the local snapshot.
        if (src) await t.copies.annotate(src.copy.id, { verified_at: clock.now() });
        else await t.snapshots.annotate(now.id, { verified_at: clock.now() });
        if (target === w.server) await moveCurrent({ drivers: deps.drivers, ledger: t }, w.server, now.id); // CloudCIX "apply": the server now descends from it
        return res.summary;
      };
      return { result: res.summary, commit };
    },
    fail: async (_id, message, e, t) => {
      if (!(e instanceof SnapbotError && e.code === "snapshot_broken")) return;
      const copy = from === null ? undefined : await t.copies.live(w.snapshot.id, from);
      if (copy?.state === "done") await t.copies.transition(copy.id, "broken", { error: message, verified_at: clock.now() });
      const cur = (await t.snapshots.get(w.snapshot.id))!;
      if (from === null && cur.state === "done") await t.snapshots.transition(cur.id, "broken", { error: message, verified_at: clock.now() });
    },
    afterFail: async (message, e) => {
      if (!(e instanceof SnapbotError && e.code === "snapshot_broken")) return;
      if (from !== null) await raiseCopyFailed(deps, w.server, w.snapshot, from, `the copy of ${ref} on ${from} is broken: a restore from it was refused`, [message]);
      else await deps.alerts.raise({ kind: "snapshot_broken", server: w.server, snapshotId: w.snapshot.id, snapshotName: w.snapshot.name, title: `${ref} is broken: a restore from it was refused`, lines: [message] });
    },
  });
}

/**
 * delete --subtree: the snapshot and every snapshot below it, leaves first (one backend delete each, never a
 * backend's own recursive delete: libvirt 9.0 segfaults on --children for deep trees). Each removal commits on
 * its own, so a failure stops there with the ledger true for what was removed; one operation in the audit log.
 */
export async function runDeleteSubtree(deps: EngineDeps, w: ApprovedWork): Promise<OperationHandle<string>> {
  const { ledger, clock } = deps;
  const driver = deps.drivers.get(w.server);
  const ref = `${w.server.name}/${w.snapshot.name}`;
  return runOperation<string>(deps, {
    existing: { op: w.op, lease: w.lease },
    server: w.server,
    kind: "delete",
    label: `delete --subtree ${ref}`,
    user: w.op.requested_by,
    args: w.op.args ?? {},
    work: async (ctx) => {
      const root = (await ledger.snapshots.get(w.snapshot.id))!;
      if (!["done", "broken", "failed"].includes(root.state)) throw new UserError("not_deletable", `${ref} is ${root.state} now: nothing was deleted`);
      const all = await subtreeOf(ledger, root);
      refuseIfChanged(w.op.args, all, ref);
      const removed: string[] = [];
      for (const s of all) {
        if (s.state !== "failed") await ledger.snapshots.transition(s.id, "deleting");
        try {
          if (s.state !== "failed") await driver.delete(handleOf(s), ctx);
        } catch (e) {
          const message = failureMessage(e, ctx.signal);
          await ledger.snapshots.transition(s.id, "broken", { error: `delete failed: ${message}` });
          const done = removed.length ? `; deleted before it: ${removed.join(", ")}` : "";
          throw new SnapbotError("subtree_stopped", `delete --subtree ${ref} stopped at ${s.name}: ${message}${done}`, { cause: e });
        }
        await ledger.tx(async (t) => afterRemoved(t, await t.snapshots.transition(s.id, "deleted", { deleted_at: clock.now(), deleted_by: w.op.requested_by })));
        removed.push(s.name);
      }
      const summary = `deleted ${all.length} snapshot(s), leaves first: ${removed.join(", ")}`;
      return { result: summary, commit: () => summary };
    },
  });
}

/** The approver approved a list of snapshots: if the subtree holds others now, nothing is deleted. */
function refuseIfChanged(args: Record<string, unknown> | null, all: SnapshotRow[], ref: string): void {
  const asked = args?.snapshots;
  if (!Array.isArray(asked)) return; // requests recorded before the list was: the subtree as it is
  const now = all.map((s) => s.name);
  if ([...now].sort().join("\n") !== [...(asked as string[])].sort().join("\n"))
    throw new UserError("subtree_changed", `the subtree of ${ref} changed since it was approved (now ${now.join(", ")}): nothing was deleted; ask again`);
}
