import type { CopyRow, ServerRow } from "../../../db/types.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { StorageTarget } from "../../storage/storage-targets.ts";
import { planRetention, type RetentionCandidate, type RetentionPlan } from "../../retention/apply-policy.ts";
import { formatKeep, parseKeep } from "../../retention/keep-policy.ts";
import { runOperation, type OperationHandle } from "../operations/run-operation.ts";
import { errorMessage, SnapbotError } from "../../errors.ts";
import { copyKey, copyLease } from "./stored-access.ts";

// A target's own retention (`storage.targets.<t>.keep`, restic semantics over the snapshots' own times, per server,
// the same planner as a schedule's --keep): it removes copies on that target (they end `expired`) and never a
// local snapshot; a local delete or prune never removes a copy. Every copy on the target takes part, whatever made
// its snapshot: the target's policy is what the target keeps. Copies whose snapshot is in use (a restore --from
// awaiting approval) are protected.

const SCHEDULER: Asker = { user: "scheduler", channel: null };

export interface TargetPrune {
  target: string;
  keep: string;
  plan: RetentionPlan;
  pruned: string[];
  failed: Array<{ name: string; error: string }>;
  stopped: string | null;
}

/** What the target's keep would remove of the server's copies there; null when the target keeps everything. */
export async function planTargetCopies(deps: Pick<EngineDeps, "ledger">, target: StorageTarget, server: Pick<ServerRow, "id">, names = true): Promise<RetentionPlan | null> {
  if (!target.keep) return null;
  const policy = parseKeep(target.keep);
  const rows = await deps.ledger.copies.candidates(target.name, server.id);
  const inUse = rows.length ? await deps.ledger.retention.inUse() : new Map<number, string>();
  const candidates: RetentionCandidate[] = rows.map((c) => ({ id: c.id, name: c.name, createdAt: c.createdAt, state: c.state, hasChildren: false, inUse: inUse.get(c.snapshot_id) ?? null }));
  return planRetention(candidates, policy, names);
}

/** Applies the target's keep to the server's copies there, oldest first, one operation each; stops if one is busy. */
export async function pruneTargetCopies(deps: EngineDeps, target: StorageTarget, server: ServerRow, asker: Asker = SCHEDULER): Promise<TargetPrune | null> {
  const plan = await planTargetCopies(deps, target, server);
  if (!plan) return null;
  const out: TargetPrune = { target: target.name, keep: formatKeep(parseKeep(target.keep!)), plan, pruned: [], failed: [], stopped: null };
  for (const r of [...plan.remove].sort((a, b) => a.id - b.id)) {
    const copy = await deps.ledger.copies.get(r.id);
    if (!copy || (copy.state !== "done" && copy.state !== "broken")) continue; // changed since planning
    try {
      await (await removeCopy(deps, server, target, copy, `retention ${out.keep} on ${target.name}: ${r.why}`, asker)).job.done;
      out.pruned.push(copy.name);
    } catch (e) {
      if (e instanceof SnapbotError && e.code === "server_busy") {
        out.stopped = e.message;
        break;
      }
      out.failed.push({ name: copy.name, error: errorMessage(e).split("\n")[0]! });
    }
  }
  return out;
}

/** Every target with a keep, over every server with copies there (unregistered ones too): the retention pass. */
export async function pruneAllTargets(deps: EngineDeps): Promise<number> {
  let pruned = 0;
  for (const name of deps.targets.names()) {
    const target = deps.targets.get(name)!;
    if (!target.keep) continue;
    for (const serverName of await deps.ledger.copies.serversOn(name)) {
      const server = await deps.ledger.servers.find(serverName);
      if (!server || (await planTargetCopies(deps, target, server, false))?.remove.length === 0) continue;
      const out = await pruneTargetCopies(deps, target, server).catch((e: unknown) => {
        deps.log.warn({ target: name, server: serverName, err: errorMessage(e) }, "retention on a storage target failed");
        return null;
      });
      pruned += out?.pruned.length ?? 0;
    }
  }
  return pruned;
}

/** One copy removed from its target: deleting → expired (done) or deleted (broken), as retention does to snapshots. */
function removeCopy(deps: EngineDeps, server: ServerRow, target: StorageTarget, copy: CopyRow, why: string, asker: Asker): Promise<OperationHandle<CopyRow>> {
  const { clock } = deps;
  let end: "expired" | "deleted" = copy.state === "done" ? "expired" : "deleted";
  return runOperation<CopyRow>(deps, {
    server,
    kind: "prune",
    label: `prune ${server.name}/${copy.name} on ${target.name}`,
    ...asker,
    leaseKey: copyLease(server.name, copy.name, target.name),
    args: { snapshot: copy.name, target: target.name, reason: why },
    prepare: () => copy.snapshot_id,
    // Under the lease, in the transaction that marks it deleting: the copy as it is now says how it ends.
    begin: async (_snap, _op, t) => {
      const now = (await t.copies.get(copy.id)) ?? copy;
      end = now.state === "done" ? "expired" : "deleted";
      await t.copies.transition(copy.id, "deleting", { deleted_by: asker.user });
    },
    work: async () => {
      await target.store.remove(copyKey(server.name, copy.name));
      return { result: `${end} on ${target.name}`, commit: (t) => t.copies.transition(copy.id, end, { deleted_at: clock.now() }) };
    },
    fail: async (_id, message, _e, t) => {
      if ((await t.copies.get(copy.id))?.state === "deleting") await t.copies.transition(copy.id, "broken", { error: `removal failed: ${message}` });
    },
  });
}
