import { randomBytes } from "node:crypto";
import { BackendError, SnapbotError } from "../../errors.ts";
import type { OpenQmpLink, QmpLink } from "./qmp-link.ts";

// A small QMP client (the protocol of QEMU's docs/interop/qmp-spec): greeting, qmp_capabilities, then
// commands with an "id" their replies echo, events in between. Jobs (snapshot-save/load/delete) are
// followed by their JOB_STATUS_CHANGE events to "concluded"; the error is read with query-jobs and the job
// dismissed. The signal ends everything: a running job gets job-cancel, the link is closed, and a socket that
// accepts but never answers (another client holds the monitor, a hung QEMU) is dropped at the timeout.

export interface QmpSession {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  /** Runs a job command to its end; throws with QEMU's own message when the job ends in an error. */
  job(command: string, args: Record<string, unknown>): Promise<void>;
}

interface Reply {
  return?: unknown;
  error?: { class: string; desc: string };
}

const CANCEL_GRACE_MS = 500;

/** Opens a session on `what` (for messages: "QMP /run/vm.qmp"), runs `fn`, and always closes the link. */
export async function withQmp<T>(open: OpenQmpLink, what: string, signal: AbortSignal, fn: (s: QmpSession) => Promise<T>): Promise<T> {
  if (signal.aborted) throw stopped(what, signal);
  const session = startSession(open(), what, signal);
  try {
    await session.ready;
    return await fn(session);
  } finally {
    session.end();
  }
}

function startSession(link: QmpLink, what: string, signal: AbortSignal) {
  const waiting = new Map<number, (r: Reply) => void>();
  const jobStatus = new Map<string, string>();
  const watchers = new Set<() => void>();
  let nextId = 1;
  let runningJob: string | null = null;
  let cancelling = false; // job-cancel was sent: the link closes after a grace, not at once
  let failure: Error | null = null;
  let greeted: () => void = () => undefined;
  const greeting = new Promise<void>((resolve) => (greeted = resolve));

  const fail = (e: Error) => {
    failure ??= e;
    for (const w of watchers) w();
    for (const resolve of waiting.values()) resolve({});
    greeted();
  };
  readLines(link, (m) => {
    if ("QMP" in m) return greeted();
    if (m.event === "JOB_STATUS_CHANGE") {
      const data = m.data as { id: string; status: string };
      jobStatus.set(data.id, data.status);
      for (const w of watchers) w();
    } else if (typeof m.id === "number") waiting.get(m.id)?.(m as Reply);
  }, (e) => fail(new BackendError("qmp_protocol", `${what} sent something that is not QMP: ${e}`)));
  void link.ended.then((why) => fail(new BackendError("qmp_closed", `${what} closed the connection${why ? `: ${why}` : ""}`)));

  const onAbort = () => {
    // A job QEMU is still running is asked to stop before the link goes (QEMU finishes what cannot stop).
    cancelling = runningJob !== null;
    if (runningJob) link.write(`${JSON.stringify({ execute: "job-cancel", arguments: { id: runningJob } })}\n`);
    fail(stopped(what, signal));
    setTimeout(() => link.close(), cancelling ? CANCEL_GRACE_MS : 0).unref();
  };
  signal.addEventListener("abort", onAbort, { once: true });

  const execute = async <T>(command: string, args?: Record<string, unknown>): Promise<T> => {
    if (failure) throw failure;
    const id = nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      waiting.set(id, resolve);
      link.write(`${JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id })}\n`);
    });
    waiting.delete(id);
    if (failure) throw failure;
    if (reply.error) throw new BackendError("qmp_error", `QEMU refused ${command}: ${reply.error.desc}`);
    return reply.return as T;
  };

  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      const w = () => {
        if (!failure && !check()) return;
        watchers.delete(w);
        resolve();
      };
      watchers.add(w);
      w();
    });

  const job = async (command: string, args: Record<string, unknown>) => {
    const id = `snapbot-${command}-${randomBytes(4).toString("hex")}`;
    runningJob = id;
    try {
      await execute(command, { ...args, "job-id": id });
      await until(() => jobStatus.get(id) === "concluded");
      if (failure) throw failure;
      const jobs = await execute<Array<{ id: string; error?: string }>>("query-jobs");
      const error = jobs.find((j) => j.id === id)?.error;
      await execute("job-dismiss", { id });
      if (error) throw new BackendError("qmp_job_failed", `${command} failed in QEMU: ${error}`);
    } finally {
      runningJob = null;
    }
  };

  const ready = (async () => {
    await greeting;
    if (failure) throw failure;
    await execute("qmp_capabilities");
  })();

  return {
    ready,
    execute,
    job,
    end() {
      signal.removeEventListener("abort", onAbort);
      if (!cancelling) link.close();
    },
  };
}

function readLines(link: QmpLink, onMessage: (m: Record<string, unknown>) => void, onBad: (line: string) => void): void {
  let buf = "";
  link.incoming.on("data", (chunk: string | Buffer) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try {
        onMessage(JSON.parse(line) as Record<string, unknown>);
      } catch {
        onBad(line.slice(0, 80));
      }
    }
  });
  link.incoming.on("error", () => undefined); // the link's `ended` says why
}

function stopped(what: string, signal: AbortSignal): Error {
  if (signal.reason instanceof SnapbotError) return signal.reason;
  return new BackendError("aborted", `${what} was stopped (cancelled or timed out) before QEMU answered`);
}
