import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../../src/errors.ts";

// SQLite reads keep working on a full disk; its writes fail with SQLITE_FULL (or an I/O error when the WAL or its
// index cannot grow). What that looks like, and how much room is left: the SQLite side of db/health.ts, which
// turns each such failure into the one ledger_full error and keeps the writes that must wait.

const FULL_CODE = /^SQLITE_(FULL|IOERR)/;

/** A raw SQLite error that means the disk (or the file system under the ledger) took no more. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (typeof code === "string" && FULL_CODE.test(code)) || /database or disk is full/.test(errorMessage(e));
}

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
