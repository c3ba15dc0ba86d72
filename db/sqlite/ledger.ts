import { openDb, type Db, type Warn } from "./open-db.ts";
import { transactional } from "./statements.ts";
import { serverRepo } from "./server-repo.ts";
import { snapshotRepo } from "./snapshot-repo.ts";
import { operationRepo } from "./operation-repo.ts";
import { deliveryRepo } from "./delivery-repo.ts";
import { approvalRepo } from "./approval-repo.ts";
import { alertRepo } from "./alert-repo.ts";
import { hostKeyRepo } from "./host-key-repo.ts";
import { statsRepo } from "./stats-repo.ts";
import { scheduleRepo } from "./schedule-repo.ts";
import { retentionRepo } from "./retention-repo.ts";
import { treeRepo } from "./tree-repo.ts";
import { copyRepo } from "./copy-repo.ts";
import { targetScheduleRepo } from "./target-schedule-repo.ts";
import { ledgerHealth } from "./ledger-health.ts";
import type { Clock } from "../../src/clock.ts";

/** The typed repository over the ledger file: one object, passed in wherever the ledger is needed. */
export function createLedger(path: string, clock: Clock, warn?: Warn) {
  const db = openDb(path, clock.now, warn);
  return fromDb(db, clock);
}

export function fromDb(db: Db, clock: Clock) {
  const now = () => clock.now();
  const inTx = transactional(db);
  // A full disk: every repository call that fails to write throws one ledger_full error naming the file.
  const health = ledgerHealth(db, db.name, now);
  const g = <R extends object>(repo: R): R => guarded(repo, health.caught);
  const snapshots = g(snapshotRepo(db, now));
  return {
    db,
    health,
    servers: g(serverRepo(db, now)),
    snapshots,
    /** Snapshot trees: parents, children, each server's current position. */
    tree: g(treeRepo(db, now, snapshots)),
    /** Copies of stored snapshots on storage targets (their own state machine: db/states.ts copyMachine). */
    copies: g(copyRepo(db, now)),
    operations: g(operationRepo(db, now)),
    deliveries: g(deliveryRepo(db, now)),
    approvals: g(approvalRepo(db, now)),
    alerts: g(alertRepo(db, now)),
    hostKeys: g(hostKeyRepo(db, now)),
    stats: g(statsRepo(db, now)),
    schedules: g(scheduleRepo(db, now)),
    /** Schedules that re-read a whole storage target in slices (verify --target), with their rolling round. */
    targetSchedules: g(targetScheduleRepo(db, now)),
    retention: g(retentionRepo(db)),
    /** Runs fn in one transaction: several state changes commit together or not at all. */
    tx<T>(fn: () => T): T {
      try {
        return inTx(fn);
      } catch (e) {
        throw health.caught(e);
      }
    },
    close(): void {
      db.close();
    },
  };
}
export type Ledger = ReturnType<typeof fromDb>;

/** The repository with each method's errors passed through `caught` (methods keep calling each other through it). */
function guarded<R extends object>(repo: R, caught: (e: unknown) => unknown): R {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(repo)) {
    if (typeof value !== "function") {
      out[key] = value;
      continue;
    }
    out[key] = function (this: unknown, ...args: unknown[]) {
      try {
        return (value as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        throw caught(e);
      }
    };
  }
  return out as R;
}
