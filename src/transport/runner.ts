// Every external command goes through a Runner (DESIGN.md §1): argv arrays only, never a shell string
// built from user text. Local now; an ssh runner with the same interface arrives with remote servers.
import type { Readable } from "node:stream";

export interface RunOptions {
  signal?: AbortSignal;
  /** Fed to the first stage's stdin (restore: the snapshot's parts into the decompressor). */
  input?: Readable;
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  /**
   * What the debug log shows for the command (for a pipeline, its first stage) instead of its argv: a step as
   * configured, before its vars are substituted, since a var may hold a password.
   */
  logAs?: readonly string[];
  /**
   * pipeline() only: the last stage writes its stdout straight into this file descriptor (a FIFO a storage
   * thread reads) instead of a pipe to Node; `Pipeline.stdout` is then an empty stream. The caller keeps the
   * descriptor and closes its own copy once the pipeline has started.
   */
  stdoutFd?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Stage {
  cmd: string;
  args: string[];
}

export interface Pipeline {
  /** The last stage's stdout, to be consumed by the caller (empty when it went to `stdoutFd`). */
  stdout: Readable;
  /** Resolves when every stage exited 0; rejects with a BackendError naming the stage and its stderr tail. */
  done: Promise<PipelineDone>;
  /** Stop every stage (SIGTERM, then SIGKILL). */
  kill(): void;
}

export interface PipelineDone {
  /** The end of what the stages wrote on stderr (tar --totals, dd's byte count), in stage order. */
  stderr: string;
}

export interface Runner {
  /** Runs one command to completion; rejects with a BackendError on non-zero exit, timeout or abort. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs stages connected stdout→stdin, kernel to kernel; only the last stdout reaches Node. */
  pipeline(stages: Stage[], opts?: RunOptions): Pipeline;
  /** Whether a program is installed (for "zstd where installed, gzip otherwise"). */
  has(cmd: string): Promise<boolean>;
}
