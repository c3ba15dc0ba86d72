import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants as osConstants } from "node:os";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { execa, ExecaError } from "execa";
import type { Logger } from "pino";
import { BackendError } from "../errors.ts";
import { commandAborted, commandFailed, commandTimedOut, lastLines } from "./command-error.ts";
import { KILL_GRACE_MS, killAll, loggedStages } from "./local-pipeline.ts";
import type { Pipeline, PipelineDone, Runner, RunOptions, RunResult, Stage } from "./runner.ts";
import { remoteCommand, shellQuote } from "./shell-quote.ts";
import type { SshTarget } from "./ssh-target.ts";
import { createStderrTail } from "./stderr-tail.ts";

// The Runner for a server reached over SSH. Every call is one local `ssh` process started from an argv
// array; the remote side gets one string (ssh joins its arguments), built only from shell-quoted words.
// The remote login shell must be POSIX (sh, dash, bash, ksh, zsh): csh-family shells parse quotes differently.
//
// Stopping ssh (timeout, abort, kill) closes the connection, but sshd does not signal a command that has no
// tty: it would keep running until it next writes to the closed channel (a dd blocked on a FIFO: never). So
// every remote command first reports its login shell's pid on stderr behind a random marker; that shell is
// the session's process-group leader (sshd setsid()s it), and a stop kills the whole group over a second
// connection (remoteStop) before the stop is reported.

export interface SshRunnerOptions {
  target: SshTarget;
  keyFile: string;
  /** snapbot's own known_hosts; the system's files are never consulted. */
  knownHostsFile: string;
  connectTimeoutS?: number;
  log?: Logger;
  /** The local ssh binary (tests). */
  sshBinary?: string;
}

const SSH_EXIT = 255;
const REMOTE_STOP_MS = 10_000;

/** `printf` of the login shell's pid, before the command: `$$` there is the session's process-group leader. */
const pidReport = (marker: string) => `printf '%s pid %s\\n' ${marker} $$ >&2; `;

/** The pid report taken out of a finished command's stderr. */
function withoutPid(stderr: string, marker: string): { stderr: string; pid: number | null } {
  const m = new RegExp(`^${marker} pid (\\d+)\\n?`, "m").exec(stderr);
  if (!m) return { stderr, pid: null };
  return { stderr: stderr.slice(0, m.index) + stderr.slice(m.index + m[0].length), pid: Number(m[1]) };
}

/**
 * Ends what a stopped command left running on the server: TERM to its process group, KILL a second later.
 * Best effort (the server may be gone): bounded, never throws.
 */
async function remoteStop(o: SshRunnerOptions, ssh: string, pid: number): Promise<void> {
  const group = `-${pid}`;
  const script = `kill -TERM -- ${group} 2>/dev/null; sleep 1; kill -KILL -- ${group} 2>/dev/null; exit 0`;
  await execa(ssh, sshArgv(o, script), { timeout: REMOTE_STOP_MS, reject: false, stdin: "ignore", env: { LC_ALL: "C" } });
  o.log?.debug({ host: o.target.url, pid }, "remote command stopped");
}

export function sshArgv(o: SshRunnerOptions, remote: string): string[] {
  return [
    "-p", String(o.target.port),
    "-i", o.keyFile,
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${o.knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `ConnectTimeout=${o.connectTimeoutS ?? 10}`,
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=2",
    "-o", "IdentitiesOnly=yes",
    "-o", "LogLevel=ERROR", // no "Warning: Permanently added…" noise in stderr tails
    "--", o.target.destination, remote,
  ];
}

export function createSshRunner(o: SshRunnerOptions): Runner {
  const ssh = o.sshBinary ?? "ssh";
  const where = o.target.url;
  const installed = new Map<string, Promise<boolean>>();

  async function exec(label: string, command: string, opts: RunOptions): Promise<RunResult> {
    o.log?.debug({ host: where, remote: opts.logAs ? opts.logAs.join(" ") : command }, "ssh run");
    const marker = `snapbot-pid-${randomBytes(8).toString("hex")}`;
    const remote = pidReport(marker) + command;
    try {
      const r = await execa(ssh, sshArgv(o, remote), {
        cancelSignal: opts.signal,
        timeout: opts.timeoutMs,
        forceKillAfterDelay: KILL_GRACE_MS,
        stdin: "ignore",
        stripFinalNewline: false,
        env: { LC_ALL: "C" }, // ssh's own messages in English, so they can be recognised
      });
      return { stdout: r.stdout, stderr: withoutPid(r.stderr, marker).stderr, exitCode: r.exitCode ?? 0 };
    } catch (e) {
      if (!(e instanceof ExecaError)) throw e;
      const { stderr, pid } = withoutPid(typeof e.stderr === "string" ? e.stderr : "", marker);
      if ((e.timedOut || e.isCanceled) && pid !== null) await remoteStop(o, ssh, pid);
      if (e.timedOut) throw commandTimedOut(`${label} on ${where}`, opts.timeoutMs ?? 0, stderr, e);
      if (e.isCanceled) throw commandAborted(`${label} on ${where}`, stderr, e);
      if (e.exitCode === undefined && !e.signal) {
        const code = (e.cause as NodeJS.ErrnoException | undefined)?.code ?? (e as { code?: string }).code;
        const spawnError = Object.assign(new Error(e.originalMessage ?? e.shortMessage), { code });
        throw commandFailed(ssh, { stderr, spawnError }, e);
      }
      const sshError = e.exitCode === SSH_EXIT ? classifySshError(stderr, where, e) : null;
      if (sshError) throw sshError;
      if (e.exitCode === 127) throw notInstalled(label, where, stderr, e);
      throw commandFailed(`${label} on ${where}`, { exitCode: e.exitCode, signal: e.signal ?? null, stderr }, e);
    }
  }

  return {
    run(cmd, args, opts = {}) {
      return exec(basename(cmd), withContext(remoteCommand(cmd, args), opts), opts);
    },
    pipeline(stages, opts = {}) {
      return startSshPipeline(o, ssh, stages, opts);
    },
    has(cmd) {
      let known = installed.get(cmd);
      if (!known) {
        known = exec("command -v", `command -v ${shellQuote(cmd)} >/dev/null 2>&1`, {}).then(
          () => true,
          (e: unknown) => {
            if (e instanceof BackendError && e.code === "command_failed") return false;
            installed.delete(cmd); // an unreachable server says nothing about what is installed
            throw e;
          },
        );
        installed.set(cmd, known);
      }
      return known;
    },
  };
}

/** `cd` and environment for the remote command, quoted like everything else. */
function withContext(command: string, opts: RunOptions): string {
  let line = command;
  const env = Object.entries(opts.env ?? {});
  if (env.length > 0) {
    for (const [k] of env) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TypeError(`invalid environment variable name: ${k}`);
    line = `env ${env.map(([k, v]) => shellQuote(`${k}=${v}`)).join(" ")} ${line}`;
  }
  if (opts.cwd) line = `cd ${shellQuote(opts.cwd)} && ${line}`;
  return line;
}

function notInstalled(label: string, where: string, stderr: string, cause?: unknown): BackendError {
  return new BackendError("command_not_found", `${label} is not installed on ${where} (not found in PATH)`, { cause, stderrTail: lastLines(stderr) });
}

/**
 * ssh exits 255 for its own failures, and passes the remote command's status through otherwise. A remote
 * command may exit 255 too, so the status alone is not enough: ssh's own messages are recognised.
 */
export function classifySshError(stderr: string, where: string, cause?: unknown): BackendError | null {
  const stderrTail = lastLines(stderr);
  const make = (code: string, msg: string) => new BackendError(code, msg, { cause, stderrTail });
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
    const presented = /key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/=]+)/.exec(stderr)?.[1];
    return make("ssh_hostkey_changed", `${where} presented a different host key${presented ? ` (${presented})` : ""} than the one snapbot recorded; refusing to connect. An admin must check the server and accept the new key.`);
  }
  if (/Host key verification failed|No \S+ host key is known for/i.test(stderr))
    return make("ssh_hostkey_unknown", `${where} has no host key recorded in snapbot's known_hosts; refusing to connect. An admin must accept the server's host key first.`);
  if (/Permission denied \(/i.test(stderr))
    return make("ssh_auth_failed", `${where} refused snapbot's key (${(/Permission denied \(([^)]*)\)/.exec(stderr)?.[1]) ?? "publickey"}); add snapbot's public key to the user's authorized_keys.`);
  const net = /(Connection refused|Connection timed out|Operation timed out|No route to host|Network is unreachable|Could not resolve hostname[^\n]*|Name or service not known|kex_exchange_identification[^\n]*|Connection reset by peer|Connection closed by [^\n]*)/i.exec(stderr);
  if (net) return make("ssh_unreachable", `${where} is unreachable: ${net[1]!.trim()}`);
  if (/closed by remote host|Broken pipe|Timeout, server .* not responding|client_loop: send disconnect/i.test(stderr))
    return make("ssh_disconnected", `the connection to ${where} was lost`);
  if (/^ssh: /m.test(stderr) || stderr.trim() === "")
    return make("ssh_failed", `ssh to ${where} failed${stderrTail ? `: ${stderrTail.split("\n")[0]}` : ""}`);
  return null;
}

// ---- pipeline ---------------------------------------------------------------------------------------------
//
// The whole pipeline runs remotely as ONE `sh -c` script, so only the last stage's stdout crosses the network:
//   { 'tar' '-cf' '-' …; printf '%s %s %s\n' <marker> 0 $? >&2; } | { 'zstd' '-1'; printf … 1 $? >&2; }
// Each stage reports its own exit status on stderr behind a random marker (POSIX sh has no pipefail), and
// those lines are taken out of the stderr before anyone sees it. A stage whose status never arrives did not
// finish (connection lost).

interface RemoteStageExit {
  index: number;
  status: number;
}

export function pipelineScript(stages: Stage[], marker: string): string {
  return stages
    .map((s, i) => `{ ${remoteCommand(s.cmd, s.args)}; printf '%s %s %s\\n' ${marker} ${i} $? >&2; }`)
    .join(" | ");
}

function startSshPipeline(o: SshRunnerOptions, ssh: string, stages: Stage[], opts: RunOptions): Pipeline {
  if (stages.length === 0) throw new TypeError("a pipeline needs at least one stage");
  const where = o.target.url;
  const label = stages.map((s) => basename(s.cmd)).join(" | ");
  const marker = `snapbot-exit-${randomBytes(8).toString("hex")}`;
  const remote = pidReport(marker) + withContext(`sh -c ${shellQuote(pipelineScript(stages, marker))}`, { cwd: opts.cwd, env: opts.env });
  o.log?.debug({ host: where, stages: loggedStages(stages, opts.logAs) }, "ssh pipeline started");

  const child: ChildProcess = spawn(ssh, sshArgv(o, remote), {
    stdio: [opts.input ? "pipe" : "ignore", opts.stdoutFd ?? "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  if (opts.input) feed(opts.input, child);
  const stderr = watchStderr(child, marker);

  let stopped: "aborted" | "timeout" | "killed" | null = null;
  let remoteStopped: Promise<void> = Promise.resolve();
  const stop = (why: "aborted" | "timeout" | "killed") => {
    if (!stopped) {
      const pid = stderr.pid();
      if (pid !== null) remoteStopped = remoteStop(o, ssh, pid);
    }
    stopped ??= why;
    killAll([child]);
    child.stdout?.destroy();
  };
  const onAbort = () => stop("aborted");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const timer = opts.timeoutMs ? setTimeout(() => stop("timeout"), opts.timeoutMs) : undefined;

  const done = new Promise<PipelineDone>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    const finish = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      const { text, exits } = stderr.end();
      const error = judge();
      if (!error) return resolve({ stderr: text });
      o.log?.debug({ err: error, stderrTail: error.stderrTail }, "ssh pipeline failed");
      // A stopped pipeline is reported once what it left on the server is gone too.
      void remoteStopped.then(() => reject(error));

      function judge(): BackendError | null {
        const full = `${label} on ${where}`;
        if (stopped === "timeout") return commandTimedOut(full, opts.timeoutMs ?? 0, text);
        if (stopped) return commandAborted(full, text);
        if (spawnError) return commandFailed(ssh, { stderr: text, spawnError });
        const bad = exits.filter((e) => e.status !== 0);
        // When zstd dies, tar dies of SIGPIPE (141): blame the stage that failed on its own.
        const culprit = bad.find((e) => e.status !== 128 + osConstants.signals.SIGPIPE) ?? bad[0];
        if (culprit) {
          const name = basename(stages[culprit.index]!.cmd);
          if (culprit.status === 127) return notInstalled(name, where, text);
          const signal = culprit.status > 128 ? signalName(culprit.status - 128) : null;
          return commandFailed(`${name} on ${where}`, { exitCode: culprit.status, signal, stderr: text });
        }
        if (exits.length === stages.length && exitCode === 0) return null;
        // Some stage never reported: ssh itself failed or the connection went away mid-stream.
        const ssherr = classifySshError(text, where);
        if (ssherr && (exitCode === SSH_EXIT || exitCode === null)) return ssherr;
        if (signal) return commandFailed(ssh, { exitCode, signal, stderr: text });
        return new BackendError("ssh_disconnected", `${label} on ${where} did not finish: the connection ended (ssh exit ${exitCode ?? "?"})`, { stderrTail: lastLines(text) });
      }
    };
    child.once("error", (e: NodeJS.ErrnoException) => {
      spawnError = e;
      if (child.pid === undefined) finish(null, null);
    });
    child.once("close", (code, signal) => finish(code, signal));
  });
  return { stdout: child.stdout ?? Readable.from([]), done, kill: () => stop("killed") };
}

function signalName(n: number): string {
  const found = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return found ? found[0] : `signal ${n}`;
}

function feed(input: Readable, child: ChildProcess): void {
  const stdin = child.stdin!;
  stdin.on("error", () => input.destroy());
  input.on("error", () => {
    stdin.destroy();
    child.kill("SIGTERM");
  });
  input.pipe(stdin);
}

/** Splits ssh's stderr into the stages' exit reports and everything else (kept as a tail for users). */
function watchStderr(child: ChildProcess, marker: string) {
  const tail = createStderrTail();
  const exits: RemoteStageExit[] = [];
  const report = new RegExp(`${marker} (\\d+) (\\d+)$`);
  const pidLine = new RegExp(`^${marker} pid (\\d+)$`);
  let pid: number | null = null;
  let pending = "";
  const line = (l: string, nl: boolean) => {
    const p = pidLine.exec(l);
    if (p) {
      pid = Number(p[1]);
      return;
    }
    const m = report.exec(l);
    if (m) {
      exits.push({ index: Number(m[1]), status: Number(m[2]) });
      // A stage that left an unterminated line: keep its text, drop the report.
      const rest = l.slice(0, m.index);
      if (rest) tail.push(Buffer.from(`${rest}\n`));
      return;
    }
    tail.push(Buffer.from(nl ? `${l}\n` : l));
  };
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      line(pending.slice(0, nl), true);
      pending = pending.slice(nl + 1);
    }
    // A stage spewing one endless line must not grow memory; it cannot hold a report anyway.
    if (pending.length > 64 * 1024) {
      tail.push(Buffer.from(pending));
      pending = "";
    }
  });
  return {
    /** The remote login shell's pid, once it reported it. */
    pid: () => pid,
    end() {
      if (pending) line(pending, false);
      pending = "";
      return { text: tail.text(), exits };
    },
  };
}
