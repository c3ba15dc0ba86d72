import { spawn, type ChildProcess } from "node:child_process";
import { basename } from "node:path";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { BackendError } from "../errors.ts";
import { commandAborted, commandFailed, commandTimedOut, type CommandOutcome } from "./command-error.ts";
import type { Pipeline, PipelineDone, RunOptions, Stage } from "./runner.ts";
import { createStderrTail } from "./stderr-tail.ts";

// Stages are spawned with node:child_process, each given the previous stage's stdout pipe as its stdin, so
// the kernel moves the bytes (tar → zstd never passes through JS). execa is not used here: its `.pipe()`
// copies through Node streams, and handing it another subprocess's stdout makes it wait on a stream it
// no longer owns.

export const KILL_GRACE_MS = 2000;

interface StageExit extends CommandOutcome {
  stage: Stage;
}

type StopReason = "aborted" | "timeout" | "killed";

export function startLocalPipeline(stages: Stage[], opts: RunOptions = {}, log?: Logger): Pipeline {
  if (stages.length === 0) throw new TypeError("a pipeline needs at least one stage");
  const label = stages.map((s) => basename(s.cmd)).join(" | ");
  const children = spawnStages(stages, opts);
  const exits = children.map((child, i) => watchStage(child, stages[i]!));
  if (opts.input) feed(opts.input, children[0]!);
  let stopped: StopReason | null = null;
  const stop = (why: StopReason) => {
    stopped ??= why;
    killAll(children);
    // Output after a stop is worthless, and an unread stdout would keep the last stage's "close" (and so
    // `done`) from ever arriving.
    children.at(-1)!.stdout?.destroy();
  };
  const onAbort = () => stop("aborted");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const timer = opts.timeoutMs ? setTimeout(() => stop("timeout"), opts.timeoutMs) : undefined;
  log?.debug({ stages: loggedStages(stages, opts.logAs) }, "pipeline started");

  const done = Promise.all(exits).then((results): PipelineDone => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    const error = judge(label, results, stopped, opts.timeoutMs ?? 0);
    if (error) {
      log?.debug({ err: error, stderrTail: error.stderrTail }, "pipeline failed");
      throw error;
    }
    return { stderr: results.map((r) => r.stderr).filter(Boolean).join("\n") };
  });
  return { stdout: children.at(-1)!.stdout ?? Readable.from([]), done, kill: () => stop("killed") };
}

function spawnStages(stages: Stage[], opts: RunOptions): ChildProcess[] {
  const children: ChildProcess[] = [];
  let upstream: Readable | null = null;
  try {
    for (const [i, stage] of stages.entries()) {
      const last = i === stages.length - 1;
      const child: ChildProcess = spawn(stage.cmd, stage.args, {
        stdio: [upstream ?? (opts.input ? "pipe" : "ignore"), last && opts.stdoutFd !== undefined ? opts.stdoutFd : "pipe", "pipe"],
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        // Its own process group: Ctrl-C at a terminal reaches snapbot, which stops its work in order,
        // instead of killing tar/zstd/ssh behind its back. Kills go to the whole group (killGroup).
        detached: true,
      });
      // Our copy of the pipe must go: the next stage holds its own, and if it dies the writer should get
      // EPIPE rather than block on a pipe that Node still has open.
      upstream?.destroy();
      children.push(child);
      upstream = child.stdout;
    }
  } catch (e) {
    killAll(children);
    throw e;
  }
  return children;
}

/**
 * Streams the input into the first stage. A stage that exits early (EPIPE) is judged by its exit code;
 * an input that fails stops the stage, and the caller, who owns the input, reports why.
 */
function feed(input: Readable, first: ChildProcess): void {
  const stdin = first.stdin!;
  stdin.on("error", () => input.destroy());
  input.on("error", () => {
    stdin.destroy();
    first.kill("SIGTERM");
  });
  input.pipe(stdin);
}

function watchStage(child: ChildProcess, stage: Stage): Promise<StageExit> {
  const tail = createStderrTail();
  child.stderr?.on("data", (c: Buffer) => tail.push(c));
  return new Promise((resolve) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    const finish = (exitCode: number | null, signal: string | null) =>
      resolve({ stage, exitCode, signal, spawnError, stderr: tail.text() });
    child.once("error", (e: NodeJS.ErrnoException) => {
      spawnError = e;
      if (child.pid === undefined) finish(null, null);
    });
    child.once("close", (code, signal) => finish(code, signal));
  });
}

/** SIGTERM now, SIGKILL for whatever still runs after a grace period (zstd and tar exit on SIGTERM). */
export function killAll(children: ChildProcess[]): void {
  const alive = () => children.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
  for (const c of alive()) killGroup(c.pid!, "SIGTERM");
  const later = setTimeout(() => {
    for (const c of alive()) killGroup(c.pid!, "SIGKILL");
  }, KILL_GRACE_MS);
  later.unref();
}

/** A detached child leads its own process group: the signal reaches what it started too (sh -c, ssh's helpers). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal); // not a group leader after all; gone already is fine too
    } catch {
      // exited meanwhile
    }
  }
}

function failed(r: StageExit): boolean {
  return r.spawnError !== undefined || r.exitCode !== 0 || r.signal !== null;
}

// When zstd dies, tar dies of SIGPIPE: blame the stage that failed on its own, not its victims.
function judge(label: string, results: StageExit[], stopped: StopReason | null, timeoutMs: number): BackendError | null {
  const stderr = results.map((r) => r.stderr).filter(Boolean).join("\n");
  if (stopped === "timeout") return commandTimedOut(label, timeoutMs, stderr);
  if (stopped) return commandAborted(label, stderr);
  const bad = results.filter(failed);
  const culprit = bad.find((r) => r.signal !== "SIGPIPE") ?? bad[0];
  return culprit ? commandFailed(basename(culprit.stage.cmd), culprit) : null;
}

/** The stages as the debug log shows them: the first as `logAs` says, when given (a var may hold a password). */
export function loggedStages(stages: readonly Stage[], logAs: readonly string[] | undefined): string[][] {
  return stages.map((s, i) => (i === 0 && logAs ? [...logAs] : [s.cmd, ...s.args]));
}
