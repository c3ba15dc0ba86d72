import type { ServerRow } from "../../../db/types.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { CopyRetention, DriverContext, RemoteCopy, SnapshotDriver } from "../../drivers/driver.ts";
import { planRetention, type RetentionCandidate, type RetentionPlan } from "../../retention/apply-policy.ts";
import { formatKeep } from "../../retention/keep-policy.ts";
import { runOperation } from "../operations/run-operation.ts";
import { BackendError, errorMessage } from "../../errors.ts";

// Copies a driver keeps on another backend under that backend's own keep policy (LXD: the snapshot server's
// snapshot_server_keep). Planned by the same restic rules as a server's snapshots, over the copies the driver
// lists there (the ledger does not hold them), and removed in one "prune_copies" operation. Independent both
// ways: a server's --keep never sees its copies, and this policy never sees the server's own snapshots.

export interface CopyPlan {
  where: string; // "snap"
  keep: string; // the policy, as written
  copies: RemoteCopy[]; // oldest first; a plan entry's id is its index + 1
  plan: RetentionPlan;
}

export interface CopyPruneOutcome extends CopyPlan {
  removed: string[];
}

/** The alert a failed prune raises is keyed by where the copies are, apart from the server's own limit_near. */
export const copiesSubject = (where: string): string => `copies on ${where}`;

/** The server's copy policy, or null when its driver keeps no copies under one (or cannot be made). */
export function copyRetentionOf(deps: Pick<EngineDeps, "drivers">, server: ServerRow): CopyRetention | null {
  try {
    return deps.drivers.get(server).copyRetention?.() ?? null;
  } catch {
    return null; // a driver this build lacks, or settings it refuses: its own commands say so
  }
}

/** What the policy keeps and removes of the copies there now; null when the server has no copy policy. */
export async function planCopies(deps: Pick<EngineDeps, "drivers">, server: ServerRow, ctx: DriverContext): Promise<CopyPlan | null> {
  const retention = copyRetentionOf(deps, server);
  const driver = deps.drivers.get(server);
  if (!retention || !driver.listCopies) return null;
  const copies = [...(await driver.listCopies(ctx))].sort((a, b) => a.createdAt - b.createdAt || a.where.localeCompare(b.where));
  const candidates: RetentionCandidate[] = copies.map((c, i) => ({ id: i + 1, name: c.where, createdAt: c.createdAt, state: "done", hasChildren: false, inUse: null }));
  return { where: retention.where, keep: formatKeep(retention.keep), copies, plan: planRetention(candidates, retention.keep) };
}

/**
 * Applies the copy policy. Most passes find nothing to remove: they only list (no operation, as local retention
 * records none). Removals run as one audited "prune_copies" operation, which lists again under the server's lease.
 * A failure either way raises limit_near ("copies on <where>"); a pass that lists and removes cleanly resolves it.
 */
export async function pruneCopies(deps: EngineDeps, server: ServerRow, asker: Asker, ctx: DriverContext): Promise<CopyPruneOutcome | null> {
  const retention = copyRetentionOf(deps, server);
  if (!retention) return null;
  const where = retention.where;
  const keep = formatKeep(retention.keep);
  const alert = copyAlerts(deps, server, where, keep);
  let planned: CopyPlan;
  try {
    planned = (await planCopies(deps, server, ctx))!;
  } catch (e) {
    await alert.raise(errorMessage(e));
    throw e;
  }
  if (planned.plan.remove.length === 0) {
    await alert.resolve(`nothing to remove on ${where}: ${planned.copies.length} copies, all kept by ${keep}`);
    return { ...planned, removed: [] };
  }
  const driver = deps.drivers.get(server);
  const handle = await runOperation<CopyPruneOutcome>(deps, {
    server,
    kind: "prune_copies",
    label: `prune the copies of ${server.name} on ${where}`,
    ...asker,
    args: { on: where, keep },
    work: async (opCtx) => {
      const p = (await planCopies(deps, server, opCtx))!;
      const { removed, failed } = await removePlanned(driver, p, opCtx);
      if (failed.length)
        throw new BackendError("prune_failed", `could not remove ${failed.length} of ${p.plan.remove.length} copies on ${where} (${keep}): ${failed.join("; ")}` +
          (removed.length ? `; removed ${removed.join(", ")}` : ""));
      const n = removed.length === 1 ? "1 copy" : `${removed.length} copies`;
      const result = `removed ${n} on ${where} (${keep}), kept ${p.plan.keep.length + p.plan.protect.length}: ${removed.join(", ")}`;
      return { result, commit: () => ({ ...p, removed }) };
    },
    afterFail: (message) => alert.raise(message),
    afterSuccess: (out) => alert.resolve(`the copies on ${where} were pruned (${out.removed.length} removed)`),
  });
  return handle.job.done;
}

/** Each copy the plan removes, oldest last as planned; one that fails does not stop the others. */
async function removePlanned(driver: SnapshotDriver, p: CopyPlan, ctx: DriverContext): Promise<{ removed: string[]; failed: string[] }> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const r of p.plan.remove) {
    try {
      await driver.removeCopy!(p.copies[r.id - 1]!, ctx);
      removed.push(r.name);
    } catch (e) {
      failed.push(`${r.name}: ${errorMessage(e).split("\n")[0]}`);
    }
  }
  return { removed, failed };
}

/** Raise and resolve answer once the alert is recorded; a failure to record it is logged, never thrown. */
function copyAlerts(deps: Pick<EngineDeps, "alerts" | "log">, server: ServerRow, where: string, keep: string) {
  const subject = copiesSubject(where);
  const logged = (what: string) => (e: unknown) => deps.log.warn({ server: server.name, where, err: errorMessage(e) }, `could not ${what} the copies' alert`);
  return {
    raise: (message: string): Promise<void> =>
      deps.alerts.raise({
        kind: "limit_near",
        server,
        snapshotName: subject,
        title: `${server.name}'s copies on ${where} were not pruned: those ${keep} does not keep stay there and fill it`,
        lines: [message.split("\n")[0]!],
        buttons: [{ label: "Prune again", command: `prune ${server.name}` }],
      }).catch(logged("raise")),
    resolve: (why: string): Promise<void> =>
      deps.alerts.resolve("limit_near", server, why, subject).then(() => undefined, logged("resolve")),
  };
}
