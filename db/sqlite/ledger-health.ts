import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import type { Db } from "./open-db.ts";
import { errorMessage, SnapbotError } from "../../src/errors.ts";
import { formatBytes } from "../../src/duration.ts";

// SQLite reads keep working on a full disk; its writes fail with SQLITE_FULL (or an I/O error when the
// WAL or its index cannot grow). Each such failure becomes one SnapbotError("ledger_full") that names
// the file, and the ledger is "full" until a write probe passes. Writes that must not be lost (an
// operation's outcome) wait here, in memory, and are made in order as soon as it can write again.

/** A write to make once the ledger can write again: `write` returns one line saying what it recorded. */
export interface DeferredWrite {
  write: () => string;
  /** It failed for another reason than a full disk: handle it, and say what happened instead. */
  failed: (e: unknown) => string;
}

export type HealthEvent =
  | { state: "full"; path: string; free: number | null; message: string }
  | { state: "writable"; path: string; settled: string[] };

const FULL_CODE = /^SQLITE_(FULL|IOERR)/;

/** A raw SQLite error that means the disk (or the file system under the ledger) took no more. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (typeof code === "string" && FULL_CODE.test(code)) || /database or disk is full/.test(errorMessage(e));
}

/** The one error every write gets while the ledger is full. */
export const isLedgerFull = (e: unknown): boolean => e instanceof SnapbotError && e.code === "ledger_full";

/** Free bytes on the ledger's file system, or null when that cannot be told (a statfs is cheap). */
export function freeBytes(path: string): number | null {
  if (path === ":memory:") return null;
  try {
    const s = statfsSync(dirname(path));
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export function ledgerHealth(db: Db, path: string, now: () => number) {
  let full: { since: number } | null = null;
  let recovering = false;
  const deferred: DeferredWrite[] = [];
  const listeners: Array<(e: HealthEvent) => void> = [];
  let probe: Database.Statement | null = null;
  const emit = (e: HealthEvent) => listeners.forEach((l) => l(e));
  const describe = () => {
    const free = freeBytes(path);
    return `the ledger ${path} is full${free === null ? "" : ` (${formatBytes(free)} free on its disk)`}`;
  };
  const error = (cause?: unknown) =>
    new SnapbotError("ledger_full", `${describe()}: free space there, then try again; list, show and help still work`, { cause });
  const enterFull = () => {
    if (full) return;
    full = { since: now() };
    if (!recovering) emit({ state: "full", path, free: freeBytes(path), message: error().message });
  };

  /** Runs the deferred writes in order; a full disk again stops them (the rest wait for the next probe). */
  function leaveFull(): void {
    full = null;
    recovering = true;
    const settled: string[] = [];
    try {
      while (deferred.length) {
        const d = deferred[0]!;
        try {
          settled.push(d.write());
        } catch (e) {
          if (isLedgerFull(e) || isDiskFull(e)) return void enterFull();
          settled.push(d.failed(e));
        }
        deferred.shift();
      }
    } finally {
      recovering = false;
    }
    emit({ state: "writable", path, settled });
  }

  return {
    path,
    get full(): boolean {
      return full !== null;
    },
    /** Since when it is full (null: it can write). */
    fullSince: (): number | null => full?.since ?? null,
    /** A raw error from the database: a full disk becomes the ledger_full error (and the state "full"). */
    caught(e: unknown): unknown {
      if (isLedgerFull(e)) return e;
      if (!isDiskFull(e)) return e;
      enterFull();
      return error(e);
    },
    /** The ledger_full error, for work refused while full. */
    error: (): SnapbotError => error(),
    /** "the ledger … is full (… free on its disk)": for messages that explain what waits. */
    describe,
    /**
     * One small committed write: true if the ledger can write (ending the full state), false if still full.
     * Other failures (a lock held past `busyMs`, a closed file) throw. `busyMs` shortens the wait for a lock
     * (the heartbeat's probe must not stall the bot for the ledger's 5 s busy_timeout).
     */
    probe(busyMs?: number): boolean {
      const previous = busyMs === undefined ? null : (db.pragma("busy_timeout", { simple: true }) as number);
      if (busyMs !== undefined) db.pragma(`busy_timeout = ${busyMs}`);
      try {
        (probe ??= db.prepare("UPDATE ledger_probe SET at = ? WHERE id = 1")).run(now());
      } catch (e) {
        if (!isDiskFull(e)) throw e;
        enterFull();
        return false;
      } finally {
        if (previous !== null) db.pragma(`busy_timeout = ${previous}`);
      }
      if (full) leaveFull();
      return !full;
    },
    /** Keeps a write for when the ledger can write again. */
    defer(d: DeferredWrite): void {
      deferred.push(d);
    },
    /** Writes waiting for the ledger. */
    waiting: (): number => deferred.length,
    /** Told once when the ledger fills up, and once when it can write again (with what was settled then). */
    onChange(listener: (e: HealthEvent) => void): void {
      listeners.push(listener);
    },
  };
}
export type LedgerHealth = ReturnType<typeof ledgerHealth>;
