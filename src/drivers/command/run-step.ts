import type { Readable } from "node:stream";
import { BackendError } from "../../errors.ts";
import type { Pipeline, Runner } from "../../transport/runner.ts";
import { basename } from "node:path";
import { shownStep } from "./placeholders.ts";

// One step: an argv run through the Runner (locally, or on host: ssh://… through the shared SSH layer) in its own
// process group, killed at the server's timeout or on cancel. Its stderr is kept as a bounded tail (a step may print
// megabytes), its stdout either streamed (the snapshot) or kept up to a few KiB (what clean and --version print).

const KEEP_STDOUT = 8 * 1024;

export interface StepRun {
  phase: "create" | "check" | "restore" | "clean" | "version";
  index: number; // 0-based, within its phase
  template: string[]; // as configured: shown and recorded (vars unexpanded)
  argv: string[]; // substituted: what runs
}

export interface StepOptions {
  runner: Runner;
  signal: AbortSignal;
  timeoutMs?: number;
  input?: Readable;
}

export interface StepDone {
  stdout: string; // the first KEEP_STDOUT bytes
  stdoutBytes: number;
  ms: number;
}

/** Starts the step; the caller consumes `pipe.stdout` (the snapshot) and awaits `done`. */
export function startStep(step: StepRun, o: StepOptions): { pipe: Pipeline; done: Promise<{ ms: number }> } {
  const t0 = Date.now();
  const [cmd, ...args] = step.argv;
  // Logged as configured: a var may hold a password, and debug logs must not show it.
  const pipe = o.runner.pipeline([{ cmd: cmd!, args }], { signal: o.signal, timeoutMs: o.timeoutMs, input: o.input, logAs: step.template });
  const done = pipe.done.then(
    () => ({ ms: Date.now() - t0 }),
    (e: unknown) => Promise.reject(stepFailed(step, e)),
  );
  return { pipe, done };
}

/** Runs the step to its end, keeping the start of its stdout. */
export async function runStep(step: StepRun, o: StepOptions): Promise<StepDone> {
  const { pipe, done } = startStep(step, o);
  const kept: Buffer[] = [];
  let bytes = 0;
  pipe.stdout.on("data", (c: Buffer) => {
    if (bytes < KEEP_STDOUT) kept.push(c.subarray(0, KEEP_STDOUT - bytes));
    bytes += c.length;
  });
  const { ms } = await done;
  return { stdout: Buffer.concat(kept).toString("utf8"), stdoutBytes: bytes, ms };
}

/** "create step 1 (pg_dump -Fc --dbname={db}) failed (exit 1): pg_dump: error: …", the stderr tail kept. */
export function stepFailed(step: StepRun, e: unknown): unknown {
  if (!(e instanceof BackendError)) return e;
  const what = `${step.phase} step ${step.index + 1} (${clip(shownStep(step.template).join(" "))})`;
  const cmd = basename(step.argv[0] ?? "");
  // command-error.ts words it for the program ("pg_dump failed (exit 1): …"): say which step it was.
  const rest = e.message.startsWith(cmd) ? e.message.slice(cmd.length).trimStart() : e.message;
  const how = e.code === "command_not_found" ? `cannot run: ${e.message}` : rest;
  return new BackendError(e.code === "command_failed" ? "step_failed" : e.code, `${what} ${how}`, { cause: e, stderrTail: e.stderrTail });
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}
