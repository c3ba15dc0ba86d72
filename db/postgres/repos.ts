import type { LedgerRepos } from "../ledger.ts";
import type { RepoContext } from "./context.ts";
import { serverRepo } from "./server-repo.ts";
import { snapshotRepo } from "./snapshot-repo.ts";
import { treeRepo } from "./tree-repo.ts";
import { copyRepo } from "./copy-repo.ts";
import { operationRepo } from "./operation-repo.ts";
import { deliveryRepo } from "./delivery-repo.ts";
import { approvalRepo } from "./approval-repo.ts";
import { alertRepo } from "./alert-repo.ts";
import { hostKeyRepo } from "./host-key-repo.ts";
import { statsRepo } from "./stats-repo.ts";
import { scheduleRepo } from "./schedule-repo.ts";
import { targetScheduleRepo } from "./target-schedule-repo.ts";
import { retentionRepo } from "./retention-repo.ts";

/** Every repository over one session (the pool, or one transaction's connection). Cheap: closures over SQL text. */
export function pgRepos(ctx: RepoContext): LedgerRepos {
  const snapshots = snapshotRepo(ctx);
  return {
    servers: serverRepo(ctx),
    snapshots,
    tree: treeRepo(ctx, snapshots),
    copies: copyRepo(ctx),
    operations: operationRepo(ctx),
    deliveries: deliveryRepo(ctx),
    approvals: approvalRepo(ctx),
    alerts: alertRepo(ctx),
    hostKeys: hostKeyRepo(ctx),
    stats: statsRepo(ctx),
    schedules: scheduleRepo(ctx),
    targetSchedules: targetScheduleRepo(ctx),
    retention: retentionRepo(ctx),
  };
}
