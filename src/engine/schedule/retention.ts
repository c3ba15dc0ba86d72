import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos, Origin, ScheduleRow } from "../../../db/ledger.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { planRetention, type RetentionPlan } from "../../retention/apply-policy.ts";
import { formatKeep, type KeepPolicy } from "../../retention/keep-policy.ts";
import { errorMessage, SnapbotError } from "../../errors.ts";

// Retention: which snapshots a schedule's --keep policy removes (pure planning in src/retention/), and
// removing them one operation at a time ("prune" operations: a done snapshot ends `expired`). A schedule's
// policy covers the snapshots that schedule made (and, for an LXD --native schedule, those LXD made): a
// snapshot someone took by hand before an upgrade is never eaten by the daily rotation.

export type RemoveFn = (snap: SnapshotRow, why: string) => Promise<OperationHandle<SnapshotRow>>;

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
export async function planFor(
  ledger: Pick<LedgerRepos, "retention">,
  server: Pick<ServerRow, "id">,
  policy: KeepPolicy,
  origins: Origin[],
  inUse?: Map<number, string>,
  names = true,
): Promise<RetentionPlan> {
  inUse ??= await ledger.retention.inUse();
  const rows = await ledger.retention.candidates(server.id, origins, names);
  const parents = rows.length > 0 ? await ledger.retention.parents(server.id) : new Set<number>();
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
export async function keptParents(ledger: Pick<LedgerRepos, "schedules" | "retention">, serverId: number): Promise<Set<number>> {
  return (await ledger.schedules.forServer(serverId))?.keep?.parents === "prune" ? new Set() : ledger.retention.parents(serverId);
}

/** Removes what the plan removes, oldest first, each as its own operation; stops if the server gets busy. */
export async function executePlan(ledger: Pick<LedgerRepos, "snapshots">, plan: RetentionPlan, policy: KeepPolicy, remove: RemoveFn): Promise<PruneOutcome> {
  const out: PruneOutcome = { plan, pruned: [], failed: [], stopped: null };
  const byAge = [...plan.remove].sort((a, b) => a.id - b.id);
  for (const r of byAge) {
    const snap = await ledger.snapshots.get(r.id);
    if (!snap || (snap.state !== "done" && snap.state !== "broken")) continue; // changed since planning
    try {
      await (await remove(snap, `retention ${formatKeep(policy)}: ${r.why}`)).job.done;
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
