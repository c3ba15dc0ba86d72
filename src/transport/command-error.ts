import { BackendError } from "../errors.ts";

// One wording for every failed shell-out (run or pipeline stage), so users learn to read a single shape:
// "tar failed (exit 2): tar: srv/nope: Cannot stat: No such file or directory".

export const TAIL_LINES = 10;
const MAX_LINE = 300;

/** How a child ended, as both the run() and pipeline() paths observe it. */
export interface CommandOutcome {
  exitCode?: number | null;
  signal?: string | null;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}

export function lastLines(text: string, n = TAIL_LINES): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-n).join("\n");
}

// tar ends with a generic "Exiting with failure status" line: the first line of the tail is the useful one.
function headline(tail: string): string {
  const line = tail.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
}

export function commandFailed(cmd: string, outcome: CommandOutcome, cause?: unknown): BackendError {
  const stderrTail = lastLines(outcome.stderr);
  const code = outcome.spawnError?.code;
  if (code === "ENOENT")
    return new BackendError("command_not_found", `${cmd} is not installed (not found in PATH)`, { cause: cause ?? outcome.spawnError, stderrTail });
  if (outcome.spawnError)
    return new BackendError("command_failed", `${cmd} could not start: ${outcome.spawnError.message}`, { cause: cause ?? outcome.spawnError, stderrTail });
  const how = outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.exitCode ?? "?"}`;
  const line = headline(stderrTail);
  return new BackendError("command_failed", `${cmd} failed (${how})${line ? `: ${line}` : ""}`, { cause, stderrTail });
}

export function commandTimedOut(cmd: string, timeoutMs: number, stderr: string, cause?: unknown): BackendError {
  const secs = Math.round(timeoutMs / 100) / 10;
  return new BackendError("command_timeout", `${cmd} timed out after ${secs}s and was stopped`, { cause, stderrTail: lastLines(stderr) });
}

export function commandAborted(cmd: string, stderr: string, cause?: unknown): BackendError {
  return new BackendError("command_aborted", `${cmd} was cancelled and stopped`, { cause, stderrTail: lastLines(stderr) });
}
