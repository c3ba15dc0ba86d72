import { SnapbotError } from "../src/errors.ts";
import { formatBytes } from "../src/duration.ts";
import type { DeferredWrite, HealthEvent, LedgerHealth } from "./ledger.ts";

// The ledger's "full" state, the same for every backend: a write that fails because the database's disk took
// no more (SQLite: SQLITE_FULL or an I/O error growing the WAL; PostgreSQL: disk_full, 53100) becomes one
// ledger_full error that says where, and the ledger is full until a probe write passes. Writes that must not be
// lost (an operation's outcome) wait here, in memory, and are made in order as soon as it can write again.

export interface HealthBackend {
  /** Where the ledger is, as messages name it (a file, or host/database: never credentials). */
  path: string;
  now: () => number;
  /** A raw error from the database that means its disk is full. */
  isDiskFull: (e: unknown) => boolean;
  /** Free bytes where the database writes, or null when that cannot be told here. */
  freeBytes: () => number | null;
  /** One small committed write (the ledger_probe row); `busyMs` bounds the wait for a lock. */
  probeWrite: (busyMs?: number) => Promise<void>;
}

/** The one error every write gets while the ledger is full. */
export const isLedgerFull = (e: unknown): boolean => e instanceof SnapbotError && e.code === "ledger_full";

export function createLedgerHealth(b: HealthBackend): LedgerHealth {
  let full: { since: number } | null = null;
  let recovering = false;
  const deferred: DeferredWrite[] = [];
  const listeners: Array<(e: HealthEvent) => void> = [];
  const emit = (e: HealthEvent) => listeners.forEach((l) => l(e));
  const describe = () => {
    const free = b.freeBytes();
    return `the ledger ${b.path} is full${free === null ? "" : ` (${formatBytes(free)} free on its disk)`}`;
  };
  const error = (cause?: unknown) =>
    new SnapbotError("ledger_full", `${describe()}: free space there, then try again; list, show and help still work`, { cause });
  const enterFull = () => {
    if (full) return;
    full = { since: b.now() };
    if (!recovering) emit({ state: "full", path: b.path, free: b.freeBytes(), message: error().message });
  };

  /** Runs the deferred writes in order; a full disk again stops them (the rest wait for the next probe). */
  async function leaveFull(): Promise<void> {
    full = null;
    recovering = true;
    const settled: string[] = [];
    try {
      while (deferred.length) {
        const d = deferred[0]!;
        try {
          settled.push(await d.write());
        } catch (e) {
          if (isLedgerFull(e) || b.isDiskFull(e)) return void enterFull();
          settled.push(d.failed(e));
        }
        deferred.shift();
      }
    } finally {
      recovering = false;
    }
    emit({ state: "writable", path: b.path, settled });
  }

  return {
    path: b.path,
    get full(): boolean {
      return full !== null;
    },
    fullSince: () => full?.since ?? null,
    caught(e) {
      if (isLedgerFull(e) || !b.isDiskFull(e)) return e;
      enterFull();
      return error(e);
    },
    error: () => error(),
    describe,
    async probe(busyMs) {
      try {
        await b.probeWrite(busyMs);
      } catch (e) {
        if (!b.isDiskFull(e)) throw e;
        enterFull();
        return false;
      }
      if (full && !recovering) await leaveFull();
      return !full;
    },
    defer(d) {
      deferred.push(d);
    },
    waiting: () => deferred.length,
    onChange(listener) {
      listeners.push(listener);
    },
  };
}
