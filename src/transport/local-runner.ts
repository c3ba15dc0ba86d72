import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { execa, ExecaError } from "execa";
import type { Logger } from "pino";
import { commandAborted, commandFailed, commandTimedOut } from "./command-error.ts";
import { KILL_GRACE_MS, killGroup, startLocalPipeline } from "./local-pipeline.ts";
import type { Runner, RunOptions, RunResult } from "./runner.ts";

// The Runner for the machine snapbot runs on: execa with argv arrays (no shell ever parses user text).

export function createLocalRunner(log?: Logger): Runner {
  const installed = new Map<string, Promise<boolean>>();
  return {
    run: (cmd, args, opts) => runLocal(cmd, args, opts ?? {}, log),
    pipeline: (stages, opts) => startLocalPipeline(stages, opts ?? {}, log),
    has(cmd) {
      // Asked before every archive (zstd or gzip?); PATH does not change while the bot runs.
      let known = installed.get(cmd);
      if (!known) installed.set(cmd, (known = onPath(cmd)));
      return known;
    },
  };
}

async function runLocal(cmd: string, args: string[], opts: RunOptions, log?: Logger): Promise<RunResult> {
  log?.debug({ argv: opts.logAs ?? [cmd, ...args] }, "run");
  const sub = execa(cmd, args, {
    cancelSignal: opts.signal,
    timeout: opts.timeoutMs,
    forceKillAfterDelay: KILL_GRACE_MS,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "ignore", // a command waiting for input would otherwise hang until its timeout
    stripFinalNewline: false,
    detached: true, // its own process group, as in local-pipeline.ts: Ctrl-C at a terminal reaches snapbot first
  });
  // execa's cancel and timeout kill the process it started; what that started gets the signal as well.
  const stopGroup = () => {
    if (sub.pid === undefined) return;
    killGroup(sub.pid, "SIGTERM");
    setTimeout(() => killGroup(sub.pid!, "SIGKILL"), KILL_GRACE_MS).unref();
  };
  opts.signal?.addEventListener("abort", stopGroup, { once: true });
  const timer = opts.timeoutMs ? setTimeout(stopGroup, opts.timeoutMs) : undefined;
  try {
    const r = await sub;
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 0 };
  } catch (e) {
    throw toBackendError(cmd, e, opts);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", stopGroup);
  }
}

function toBackendError(cmd: string, e: unknown, opts: RunOptions): Error {
  if (!(e instanceof ExecaError)) return e instanceof Error ? e : new Error(String(e));
  const stderr = typeof e.stderr === "string" ? e.stderr : "";
  if (e.timedOut) return commandTimedOut(cmd, opts.timeoutMs ?? 0, stderr, e);
  if (e.isCanceled) return commandAborted(cmd, stderr, e);
  const errno = (e.cause as NodeJS.ErrnoException | undefined)?.code ?? (e as { code?: string }).code;
  const spawnError = e.exitCode === undefined && !e.signal && errno ? Object.assign(new Error(e.originalMessage ?? e.shortMessage), { code: errno }) : undefined;
  return commandFailed(cmd, { exitCode: e.exitCode, signal: e.signal ?? null, stderr, spawnError }, e);
}

async function onPath(cmd: string): Promise<boolean> {
  const dirs = cmd.includes("/") ? [""] : (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    const file = dir ? join(dir, cmd) : cmd;
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return true;
    } catch {
      // not in this directory; try the next
    }
  }
  return false;
}
