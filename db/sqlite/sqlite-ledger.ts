import { openDb, type Db, type Warn } from "./open-db.ts";
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
import { freeBytes, isDiskFull } from "./ledger-health.ts";
import { createLedgerHealth } from "../health.ts";
import { soloCoordination } from "./coordination.ts";
import type { Ledger, LedgerRepos, LedgerTx } from "../ledger.ts";
import type { Clock } from "../../src/clock.ts";

// The Ledger interface over the embedded SQLite file: today's synchronous repositories (better-sqlite3), each
// call answered as a promise. There is one connection, so a transaction owns it until its function settles:
// calls from outside wait in order behind it (as Kysely's SQLite driver does), and the transaction's own calls,
// through its handle, run at once. A call that finds the connection free runs at once too (no queue, no timer).

type Sync<R> = { [K in keyof R]: R[K] extends (...a: infer A) => Promise<infer T> ? (...a: A) => T : never };
type SyncRepos = { [K in keyof LedgerRepos]: Sync<LedgerRepos[K]> };

export function createSqliteLedger(path: string, clock: Clock, warn?: Warn): Ledger {
  return sqliteLedger(openDb(path, clock.now, warn), clock);
}

export function sqliteLedger(db: Db, clock: Clock): Ledger {
  const now = () => clock.now();
  const snapshots = snapshotRepo(db, now);
  const sync: SyncRepos = {
    servers: serverRepo(db, now),
    snapshots,
    tree: treeRepo(db, now, snapshots),
    copies: copyRepo(db, now),
    operations: operationRepo(db, now),
    deliveries: deliveryRepo(db, now),
    approvals: approvalRepo(db, now),
    alerts: alertRepo(db, now),
    hostKeys: hostKeyRepo(db, now),
    stats: statsRepo(db, now),
    schedules: scheduleRepo(db, now),
    targetSchedules: targetScheduleRepo(db, now),
    retention: retentionRepo(db),
  };
  const probe = db.prepare("UPDATE ledger_probe SET at = ? WHERE id = 1");
  const health = createLedgerHealth({
    path: db.name,
    now,
    isDiskFull,
    freeBytes: () => freeBytes(db.name),
    probeWrite: async (busyMs) => {
      const previous = busyMs === undefined ? null : (db.pragma("busy_timeout", { simple: true }) as number);
      if (busyMs !== undefined) db.pragma(`busy_timeout = ${busyMs}`);
      try {
        probe.run(now());
      } finally {
        if (previous !== null) db.pragma(`busy_timeout = ${previous}`);
      }
    },
  });
  const gate = connectionGate();
  const call = <T>(fn: () => T, direct: boolean): Promise<T> => {
    const run = () => {
      try {
        return fn();
      } catch (e) {
        throw health.caught(e);
      }
    };
    return direct || gate.free() ? new Promise<T>((resolve) => resolve(run())) : gate.exclusive(async () => run());
  };
  const outer = asyncRepos(sync, (fn) => call(fn, false));
  const inner = asyncRepos(sync, (fn) => call(fn, true));
  let savepoints = 0;

  /** fn inside BEGIN … COMMIT (or a savepoint when nested), its calls through `t`. */
  async function within<T>(fn: (t: LedgerTx) => Promise<T>, nested: boolean): Promise<T> {
    const sp = nested ? `snapbot_sp${++savepoints}` : null;
    const exec = (sql: string) => call(() => db.exec(sql), true);
    await exec(sp ? `SAVEPOINT ${sp}` : "BEGIN IMMEDIATE");
    try {
      const out = await fn(handle);
      await exec(sp ? `RELEASE ${sp}` : "COMMIT");
      return out;
    } catch (e) {
      if (db.inTransaction) db.exec(sp ? `ROLLBACK TO ${sp}; RELEASE ${sp}` : "ROLLBACK");
      throw e;
    }
  }
  const handle: LedgerTx = { ...inner, tx: (fn) => within(fn, true) };

  return {
    ...outer,
    backend: "sqlite",
    coordination: soloCoordination(),
    health,
    tx: (fn) => gate.exclusive(() => within(fn, false)),
    ping: () => call(() => void db.prepare("SELECT 1").get(), false),
    close: async () => {
      await gate.exclusive(async () => db.close());
    },
  };
}

/** Each repository's methods as promises, every call made through `call` (which decides when it runs). */
function asyncRepos(sync: SyncRepos, call: <T>(fn: () => T) => Promise<T>): LedgerRepos {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, repo] of Object.entries(sync)) {
    const wrapped: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(repo as object)) {
      if (typeof value === "function") wrapped[key] = (...args: unknown[]) => call(() => (value as (...a: unknown[]) => unknown).apply(repo, args));
    }
    out[name] = wrapped;
  }
  return out as unknown as LedgerRepos;
}

/** One connection, one holder at a time: `exclusive` runs fn once everyone before it is done. */
function connectionGate() {
  let tail: Promise<void> = Promise.resolve();
  let waiting = 0;
  return {
    free: () => waiting === 0,
    async exclusive<T>(fn: () => Promise<T>): Promise<T> {
      const before = tail;
      let done!: () => void;
      tail = new Promise<void>((r) => (done = r));
      waiting++;
      try {
        await before;
        return await fn();
      } finally {
        waiting--;
        done();
      }
    },
  };
}
