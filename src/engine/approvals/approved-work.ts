import type { OperationRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import type { Lease } from "../operations/job-runner.ts";
import { runOperation, type OperationHandle } from "../operations/run-operation.ts";
import { capabilityOf, handleOf } from "../operations/snapshot-handle.ts";
import { SnapbotError, UserError } from "../../errors.ts";
import { errorMessage } from "../../errors.ts";
import { restoreOptionsOf } from "../operations/restore-options.ts";
import { recordAfterRestoreTo, recordAndAlert, refuseIfHostKeyChanged, resolveIfUnique } from "../host-keys/host-keys.ts";

// What runs once a request is approved: a restore, or a delete of a snapshot and everything below it.
// Both re-check the snapshot when they start, since the world may have moved while people decided.

export interface ApprovedWork {
  op: OperationRow;
  lease: Lease;
  server: ServerRow;
  snapshot: SnapshotRow;
}

/** hostkeys regen: new keys inside the server, recorded, and the alert resolved only if they now differ. */
export function runRegenHostKeys(deps: EngineDeps, w: Omit<ApprovedWork, "snapshot">): OperationHandle<string> {
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
      deps.ledger.hostKeys.record(w.server.id, keys);
      const unique = await resolveIfUnique(deps, w.server);
      const prints = keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ");
      const summary = unique ? `new host keys: ${prints}` : `new host keys (${prints}) but some are still shared: run hostkeys scan`;
      return { result: summary, commit: () => summary };
    },
  });
}

/** restore, or restore --to: `target` (default: the snapshot's own server) is written; the source is only read. */
export function runRestore(deps: EngineDeps, w: ApprovedWork & { target?: ServerRow }): OperationHandle<string> {
  const { ledger, clock } = deps;
  const target = w.target ?? w.server;
  // The destination's driver, given the source's snapshot handle: its recorded location says where the parts are.
  const driver = deps.drivers.get(target);
  const restore = capabilityOf(driver, "restore", target);
  const ref = `${w.server.name}/${w.snapshot.name}`;
  const onto = target === w.server ? "" : ` --to ${target.name}`;
  return runOperation<string>(deps, {
    existing: { op: w.op, lease: w.lease },
    server: w.server,
    kind: "restore",
    label: `restore ${ref}${onto}`,
    user: w.op.requested_by,
    args: w.op.args ?? {},
    work: async (ctx) => {
      const now = ledger.snapshots.get(w.snapshot.id)!;
      if (now.state !== "done") throw new UserError("not_restorable", `${ref} is ${now.state} now: it will not be restored`);
      if (target !== w.server) refuseIfHostKeyChanged(ledger, target);
      const res = await restore.call(driver, handleOf(now), restoreOptionsOf(w.op.args), ctx);
      // A server re-imaged from a snapshot (its own, or another's: --to) may now present another server's host keys.
      const record = target === w.server ? recordAndAlert(deps, target, ctx) : recordAfterRestoreTo(deps, w.server, target, ctx);
      await record.catch((e: unknown) => ctx.log.warn({ err: errorMessage(e) }, "host keys not recorded after the restore"));
      return { result: res.summary, commit: () => (ledger.snapshots.annotate(now.id, { verified_at: clock.now() }), res.summary) };
    },
    fail: (_id, message, e) => {
      const cur = ledger.snapshots.get(w.snapshot.id)!;
      if (e instanceof SnapbotError && e.code === "snapshot_broken" && cur.state === "done")
        ledger.snapshots.transition(cur.id, "broken", { error: message, verified_at: clock.now() });
    },
    afterFail: (message, e) => {
      if (e instanceof SnapbotError && e.code === "snapshot_broken")
        void deps.alerts.raise({ kind: "snapshot_broken", server: w.server, snapshotId: w.snapshot.id, snapshotName: w.snapshot.name, title: `${ref} is broken: a restore from it was refused`, lines: [message] });
    },
  });
}

export function runDeleteSubtree(deps: EngineDeps, w: ApprovedWork): OperationHandle<string> {
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
      const all = ledger.snapshots.subtree(w.snapshot.id); // deepest first: children before their parents
      for (const s of all) {
        // Each one is its own step in the ledger, so an interruption leaves every snapshot in a true state.
        if (s.state !== "failed") ledger.snapshots.transition(s.id, "deleting");
        try {
          if (s.state !== "failed") await driver.delete(handleOf(s), ctx);
        } catch (e) {
          ledger.snapshots.transition(s.id, "broken", { error: `delete failed: ${String(e)}` });
          throw e;
        }
        ledger.snapshots.transition(s.id, "deleted", { deleted_at: clock.now(), deleted_by: w.op.requested_by });
      }
      const summary = `deleted ${all.length} snapshot(s): ${all.map((s) => s.name).join(", ")}`;
      return { result: summary, commit: () => summary };
    },
  });
}
