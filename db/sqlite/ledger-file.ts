import { closeSync, constants, mkdirSync, openSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { SnapbotError } from "../../src/errors.ts";

/** SNAPBOT_DB names something that cannot be the ledger: one line, the path and the reason; the bot exits 2. */
export class LedgerPathError extends SnapbotError {
  constructor(path: string, reason: string) {
    super("bad_ledger", `ledger ${path}: ${reason}`);
  }
}

const FIX = "set SNAPBOT_DB to a file path (default ./data/snapbot.db)";

/**
 * Makes sure `path` is a regular file snapbot may use as the ledger, creating it owner-only (0600) when
 * missing. The mode of an existing file is never changed (SNAPBOT_DB=/dev/null once made the machine's
 * /dev/null unusable): a ledger others can read gets a warning instead. SQLite gives the -wal and -shm
 * files the mode of the ledger, so they are 0600 too. Returns that warning, if any.
 */
export function prepareLedgerFile(path: string): string | null {
  const existing = statOf(path);
  if (existing) return checkExisting(path, existing);
  makeParent(path);
  try {
    // O_EXCL: if something appeared meanwhile, it is not ours, so it is checked, not created over.
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
    return null;
  } catch (e) {
    if (codeOf(e) === "EEXIST") return checkExisting(path, statOf(path) ?? statSync(path));
    throw new LedgerPathError(path, `cannot create the ledger file: ${reasonOf(e, path)}: ${FIX}`);
  }
}

function checkExisting(path: string, st: Stats): string | null {
  if (!st.isFile()) throw new LedgerPathError(path, `is ${kindOf(st)}, not a regular file: ${FIX}`);
  if ((st.mode & 0o077) === 0) return null;
  const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
  return `the ledger ${path} is open to other users (mode ${mode}) and names servers, paths and people: chmod 600 ${path}`;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "something else";
}

function makeParent(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new LedgerPathError(path, `cannot create its folder ${dirname(path)}: ${reasonOf(e, path)}: ${FIX}`);
  }
}

function statOf(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if (codeOf(e) === "ENOENT") return null;
    throw new LedgerPathError(path, `cannot be used: ${reasonOf(e, path)}: ${FIX}`);
  }
}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** The reason in words a user knows, not errno: "/etc/passwd is a file, not a folder". */
function reasonOf(e: unknown, path: string): string {
  const code = codeOf(e);
  if (code === "ENOTDIR" || code === "EEXIST") return `${fileOnTheWay(path) ?? "part of the path"} is a file, not a folder`;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOSPC") return "no space left on the device";
  if (code === "ENAMETOOLONG") return "the path is too long";
  return code ?? String(e);
}

/** The nearest existing ancestor of path when it is not a folder (what ENOTDIR complains about). */
function fileOnTheWay(path: string): string | null {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return statSync(dir).isDirectory() ? null : dir;
    } catch {
      // not there either: look one level up
    }
  }
  return null;
}
