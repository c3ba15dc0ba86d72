import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { ScheduleRow } from "../../../db/sqlite/schedule-repo.ts";
import type { Origin } from "../../../db/sqlite/retention-repo.ts";
import type { Ledger } from "../../../db/sqlite/ledger.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { planRetention, type RetentionPlan } from "../../retention/apply-policy.ts";
import { formatKeep, type KeepPolicy } from "../../retention/keep-policy.ts";
import { errorMessage, SnapbotError } from "../../errors.ts";

// Retention: which snapshots a schedule's --keep policy removes (pure planning in src/retention/), and
// removing them one operation at a time ("prune" operations: a done snapshot ends `expired`). A schedule's
// policy covers the snapshots that schedule made (and, for an LXD --native schedule, those LXD made): a
// snapshot someone took by hand before an upgrade is never eaten by the daily rotation.

export type RemoveFn = (snap: SnapshotRow, why: string) => OperationHandle<SnapshotRow>;

export interface PruneOutcome {
  plan: RetentionPlan;
  pruned: string[];
  failed: Array<{ name: string; error: string }>;
  /** Why pruning stopped before the end (the server became busy); the rest waits for the next pass. */
  stopped: string | null;
}

export function originsOf(schedule: Pick<ScheduleRow, "native">): Origin[] {
  return schedule.native ? ["schedule", "external"] : ["schedule"];
}

/** `names: false` (the pass over every server) reads no names and writes no reasons for kept snapshots. */
export function planFor(ledger: Ledger, server: Pick<ServerRow, "id">, policy: KeepPolicy, origins: Origin[], inUse = ledger.retention.inUse(), names = true): RetentionPlan {
  const rows = ledger.retention.candidates(server.id, origins, names);
  const parents = rows.length > 0 ? ledger.retention.parents(server.id) : new Set<number>();
  if (parents.size > 0 || inUse.size > 0)
    for (const r of rows) {
      r.hasChildren = parents.has(r.id);
      r.inUse = inUse.get(r.id) ?? null;
    }
  return planRetention(rows, policy, names);
}

/**
 * Snapshots retention keeps because live snapshots name them as their parent: a policy's rotation, an expiry
 * and the limit's room-making remove only leaves, unless the server's schedule says --keep …,parents=prune.
 */
export function keptParents(ledger: Ledger, serverId: number): Set<number> {
  return ledger.schedules.forServer(serverId)?.keep?.parents === "prune" ? new Set() : ledger.retention.parents(serverId);
}

/** Removes what the plan removes, oldest first, each as its own operation; stops if the server gets busy. */
export async function executePlan(ledger: Ledger, plan: RetentionPlan, policy: KeepPolicy, remove: RemoveFn): Promise<PruneOutcome> {
  const out: PruneOutcome = { plan, pruned: [], failed: [], stopped: null };
  const byAge = [...plan.remove].sort((a, b) => a.id - b.id);
  for (const r of byAge) {
    const snap = ledger.snapshots.get(r.id);
    if (!snap || (snap.state !== "done" && snap.state !== "broken")) continue; // changed since planning
    try {
      await remove(snap, `retention ${formatKeep(policy)}: ${r.why}`).job.done;
      out.pruned.push(snap.name);
    } catch (e) {
      if (e instanceof SnapbotError && e.code === "server_busy") {
        out.stopped = e.message;
        break;
      }
      out.failed.push({ name: snap.name, error: errorMessage(e).split("\n")[0]! });
    }
  }
  return out;
}
