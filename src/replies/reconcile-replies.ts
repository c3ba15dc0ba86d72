import type { ReconcileReport } from "../engine/operations/reconcile.ts";
import type { Reply } from "../reply.ts";

/**
 * What the previous run left half-done, said once at start-up; nothing when all was clean. `replica`: what a
 * replica that stopped (crashed, killed, cut off from the ledger) left, settled by the leader while the others run.
 */
export function reconcileReply(r: ReconcileReport, cause: "restart" | "replica" = "restart"): Reply | null {
  if (r.operations.length === 0 && r.snapshots.length === 0 && r.copies.length === 0) return null;
  const copies = r.copies.length ? `, ${r.copies.length} copy(ies)` : "";
  const what = cause === "restart" ? "snapbot restarted after an interruption" : "a snapbot replica stopped while it worked";
  return {
    visibility: "channel",
    tone: "error",
    title: `${what}: ${r.operations.length} operation(s)${copies} and ${r.snapshots.length} snapshot(s) were left unfinished`,
    lines: [
      ...r.operations.map((o) => `operation #${o.id} ${o.kind} ${o.server ?? ""} was ${o.was}: now failed`),
      ...r.snapshots.map((s) => `${s.ref} was ${s.was}: now ${s.now}${s.reason ? ` (${s.reason})` : ""}`),
      ...r.copies.map((c) => `the copy ${c.ref} was ${c.was}: now ${c.now} (${c.reason})`),
    ],
  };
}
