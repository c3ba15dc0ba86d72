import type { Logger } from "pino";
import type { Ledger } from "../../../db/ledger.ts";
import type { SnapshotRow } from "../../../db/types.ts";
import type { DriverRegistry } from "../../drivers/registry.ts";
import type { Leftover } from "../../drivers/driver.ts";
import { handleOf } from "./snapshot-handle.ts";
import { errorMessage } from "../../errors.ts";
import { isLedgerFull } from "../../../db/health.ts";
import { afterRemoved } from "./tree.ts";
import type { StorageTargets } from "../../storage/storage-targets.ts";
import { settleCopies } from "../copies/settle-copies.ts";

export interface ReconcileReport {
  operations: Array<{ id: number; kind: string; server: string | null; was: string }>;
  snapshots: Array<{ id: number; ref: string; was: string; now: string; reason: string }>;
  /** Copies on storage targets left running or being removed: `ref` is <server>/<snap>@<target>. */
  copies: Array<{ id: number; ref: string; was: string; now: string; reason: string }>;
}

const INTERRUPTED = "interrupted: snapbot stopped while this was in progress (crash, kill or power loss)";

/**
 * Start-up: whatever a previous process left half-done is settled before any new work starts, so the
 * ledger never shows work "running" that nobody runs, and never "done" for a snapshot that is not.
 */
export async function reconcile(ledger: Ledger, drivers: DriverRegistry, log: Logger, now: () => number, targets?: StorageTargets): Promise<ReconcileReport> {
  const report: ReconcileReport = { operations: [], snapshots: [], copies: [] };
  const fates = new Map<number, { to: SnapshotRow["state"]; reason: string }>();
  for (const s of await ledger.snapshots.unfinished()) fates.set(s.id, await fateOf(s, ledger, drivers, log));
  const copies = await settleCopies(ledger, targets, log, INTERRUPTED);
  for (const c of copies) report.copies.push({ id: c.row.id, ref: `${c.row.server}/${c.row.name}@${c.row.target}`, was: c.row.state, now: c.to, reason: c.reason });

  // Read now, before any new work starts: a settling deferred by a full ledger must not touch that work.
  const interrupted = await ledger.operations.interrupted();
  for (const op of interrupted) report.operations.push({ id: op.id, kind: op.kind, server: op.server, was: op.state });
  const rows: Array<{ s: SnapshotRow; fate: { to: SnapshotRow["state"]; reason: string } }> = [];
  for (const [id, fate] of fates) rows.push({ s: (await ledger.snapshots.get(id))!, fate });
  for (const { s, fate } of rows) report.snapshots.push({ id: s.id, ref: `${s.server}/${s.name}`, was: s.state, now: fate.to, reason: fate.reason });
  const settle = () =>
    ledger.tx(async (t) => {
      for (const op of interrupted) await t.operations.transition(op.id, "failed", { error: INTERRUPTED });
      for (const { s, fate } of rows) {
        const gone = fate.to === "deleted" ? { deleted_at: now() } : {}; // the interrupted delete had removed everything
        const after = await t.snapshots.transition(s.id, fate.to, { error: fate.reason, finished_at: s.finished_at ?? now(), ...gone });
        if (fate.to === "deleted") await afterRemoved(t, after); // its children go to its parent, as a finished delete does
      }
      for (const c of copies) await t.copies.transition(c.row.id, c.to, { error: c.reason, finished_at: c.row.finished_at ?? now(), ...(c.to === "deleted" ? { deleted_at: now() } : {}) });
    });
  try {
    await settle();
  } catch (e) {
    if (!isLedgerFull(e)) throw e;
    ledger.health.defer({
      write: async () => (await settle(), `start-up reconciliation: ${report.operations.length} operation(s), ${report.snapshots.length} snapshot(s) and ${report.copies.length} copy(ies) settled`),
      failed: (err) => (log.warn({ err: errorMessage(err) }, "start-up reconciliation could not be recorded"), `start-up reconciliation failed: ${errorMessage(err)}`),
    });
  }
  if (report.operations.length || report.snapshots.length || report.copies.length) log.warn(report, "start-up reconciliation settled interrupted work");
  return report;
}

async function fateOf(s: SnapshotRow, ledger: Ledger, drivers: DriverRegistry, log: Logger): Promise<{ to: SnapshotRow["state"]; reason: string }> {
  if (s.state === "pending") return { to: "failed", reason: `${INTERRUPTED}; it had not started` };
  const leftover = await leftoverOf(s, ledger, drivers, log);
  if (s.state === "deleting")
    return leftover === "nothing"
      ? { to: "deleted", reason: "" }
      : { to: "broken", reason: `${INTERRUPTED} while deleting: some files remain; run delete again` };
  // Archives: "partial" is parts without a manifest. LXD: the backend has the snapshot or not.
  if (leftover === "partial") return { to: "broken", reason: `${INTERRUPTED}: parts were written but never completed (no manifest); delete it` };
  if (leftover === "complete")
    return { to: "broken", reason: `${INTERRUPTED}: the backend holds it complete but it was never recorded as done; run verify to confirm it` };
  return { to: "failed", reason: INTERRUPTED };
}

async function leftoverOf(s: SnapshotRow, ledger: Ledger, drivers: DriverRegistry, log: Logger): Promise<Leftover> {
  const server = await ledger.servers.get(s.server);
  try {
    const driver = server && drivers.get(server);
    if (!driver?.leftover) return "nothing";
    return await driver.leftover({ ...handleOf(s), location: s.location });
  } catch (e) {
    log.warn({ snapshot: s.id, err: errorMessage(e) }, "could not inspect what an interrupted snapshot left");
    return "partial"; // unknown: say broken rather than pretend nothing is there
  }
}
