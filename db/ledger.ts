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
import type { Clock } from "../src/clock.ts";

/** The typed repository over the ledger file: one object, passed in wherever the ledger is needed. */
export function createLedger(path: string, clock: Clock, warn?: Warn) {
  const db = openDb(path, clock.now, warn);
  return fromDb(db, clock);
}

export function fromDb(db: Db, clock: Clock) {
  const now = () => clock.now();
  const inTx = transactional(db);
  return {
    db,
    servers: serverRepo(db, now),
    snapshots: snapshotRepo(db, now),
    operations: operationRepo(db, now),
    deliveries: deliveryRepo(db, now),
    approvals: approvalRepo(db, now),
    alerts: alertRepo(db, now),
    hostKeys: hostKeyRepo(db, now),
    stats: statsRepo(db, now),
    schedules: scheduleRepo(db, now),
    retention: retentionRepo(db),
    /** Runs fn in one transaction: several state changes commit together or not at all. */
    tx<T>(fn: () => T): T {
      return inTx(fn);
    },
    close(): void {
      db.close();
    },
  };
}
export type Ledger = ReturnType<typeof fromDb>;
