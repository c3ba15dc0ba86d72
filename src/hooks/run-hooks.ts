import type { Runner } from "../transport/runner.ts";
import { lastLines } from "../transport/command-error.ts";
import { BackendError, errorMessage } from "../errors.ts";
import { formatAge } from "../duration.ts";
import { substitute } from "../drivers/shared/placeholders.ts";

// Hooks are argv steps (never a shell string): each runs to its end or is killed at its timeout (the local
// runner kills its whole process group), one after another. Pre-hooks stop at the first failure, since the
// snapshot will not be taken; post-hooks all run, whatever happened before them (an unfreeze must not be
// skipped because a notification failed).

export type HookPhase = "pre" | "post";

export interface HookStep {
  argv: string[];
  timeoutMs: number;
}

/** One hook that ran: what, how long, and how it ended (error: one line; tail: the end of its stderr, bounded). */
export interface HookRun {
  phase: HookPhase;
  argv: string[];
  ms: number;
  ok: boolean;
  /** Stopped by the operation's cancel or timeout, not by its own failure: the create's story, not the hook's. */
  aborted?: boolean;
  error?: string;
  tail?: string;
}

const TAIL_LINES = 8;
const TAIL_LINE_CHARS = 240;
const SHOWN_ARGV = 120;

/** Runs the steps with {server}/{name} substituted; `signal` (pre-hooks: the operation's) stops one early. */
export async function runHooks(
  phase: HookPhase,
  steps: readonly HookStep[],
  runner: Runner,
  values: Readonly<Record<string, string>>,
  signal?: AbortSignal,
): Promise<HookRun[]> {
  const runs: HookRun[] = [];
  for (const step of steps) {
    const [cmd, ...args] = step.argv.map((a) => substitute(a, values));
    const started = performance.now();
    const ran = { phase, argv: [cmd!, ...args] };
    try {
      await runner.run(cmd!, args, { timeoutMs: step.timeoutMs, signal });
      runs.push({ ...ran, ms: performance.now() - started, ok: true });
    } catch (e) {
      const tail = e instanceof BackendError ? boundedTail(e.stderrTail) : "";
      const how = { ok: false, error: errorMessage(e), ...(signal?.aborted ? { aborted: true } : {}), ...(tail ? { tail } : {}) };
      runs.push({ ...ran, ms: performance.now() - started, ...how });
      if (phase === "pre") break;
    }
  }
  return runs;
}

/** `fsfreeze -f /srv`, clipped: how a hook is named in replies, the audit log and alerts (the program by its file name). */
export function shownArgv(argv: readonly string[]): string {
  const [program = "", ...args] = argv;
  const text = [program.slice(program.lastIndexOf("/") + 1) || program, ...args].join(" ");
  return text.length > SHOWN_ARGV ? `${text.slice(0, SHOWN_ARGV - 1)}…` : text;
}

/** `pre "fsfreeze -f /srv" ok in 12ms`, or `… failed in 3ms: fsfreeze failed (exit 1): …`. */
export function hookLine(r: HookRun): string {
  const how = r.ok ? "ok" : "failed";
  return `${r.phase} "${shownArgv(r.argv)}" ${how} in ${formatAge(Math.round(r.ms))}${r.ok ? "" : `: ${r.error ?? "?"}`}`;
}

/** A hook may print megabytes on stderr: the reply and the ledger keep its last few lines, each clipped. */
export function boundedTail(stderr: string): string {
  return lastLines(stderr, TAIL_LINES).split("\n").map((l) => (l.length > TAIL_LINE_CHARS ? `${l.slice(0, TAIL_LINE_CHARS - 1)}…` : l)).join("\n").trim();
}
