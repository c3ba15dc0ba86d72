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
  /**
   * Runs a job command to its end; throws with QEMU's own message when the job ends in an error. With
   * `then`, that command (no arguments) is sent right behind the job's dismissal, in the same round trip,
   * and its reply is returned: what the job did, read back without waiting for QEMU once more.
   */
  job<T = void>(command: string, args: Record<string, unknown>, then?: string): Promise<T>;
}

interface Reply {
  return?: unknown;
  error?: { class: string; desc: string };
}

const CANCEL_GRACE_MS = 500;

/** Opens a session on `what` (for messages: "QMP /run/vm.qmp"), runs `fn`, and always closes the link. */
export async function withQmp<T>(open: OpenQmpLink, what: string, signal: AbortSignal, fn: (s: QmpSession) => Promise<T>): Promise<T> {
  if (signal.aborted) throw stopped(what, signal);
  const session = new Session(open(), what, signal);
  try {
    await session.start();
    return await fn(session);
  } finally {
    session.end();
  }
}

class Session implements QmpSession {
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly jobStatus = new Map<string, string>();
  private readonly watchers = new Set<() => void>();
  private nextId = 1;
  private runningJob: string | null = null;
  private cancelling = false; // job-cancel was sent: the link closes after a grace, not at once
  private failure: Error | null = null;
  private greeted: () => void = () => undefined;
  private readonly greeting = new Promise<void>((resolve) => (this.greeted = resolve));
  private readonly onAbort = () => this.abort();

  private readonly link: QmpLink;
  private readonly what: string;
  private readonly signal: AbortSignal;

  constructor(link: QmpLink, what: string, signal: AbortSignal) {
    this.link = link;
    this.what = what;
    this.signal = signal;
    readLines(link, (m) => this.receive(m), (line) => this.fail(new BackendError("qmp_protocol", `${what} sent something that is not QMP: ${line}`)));
    void link.ended.then((why) => this.fail(new BackendError("qmp_closed", `${what} closed the connection${why ? `: ${why}` : ""}`)));
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  async start(): Promise<void> {
    await this.greeting;
    if (this.failure) throw this.failure;
    await this.execute("qmp_capabilities");
  }

  async execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      this.waiting.set(id, resolve);
      this.link.write(`${JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id })}\n`);
    });
    this.waiting.delete(id);
    if (this.failure) throw this.failure;
    if (reply.error) throw new BackendError("qmp_error", `QEMU refused ${command}: ${reply.error.desc}`);
    return reply.return as T;
  }

  async job<T = void>(command: string, args: Record<string, unknown>, then?: string): Promise<T> {
    const id = `snapbot-${command}-${randomBytes(4).toString("hex")}`;
    this.runningJob = id;
    try {
      await this.execute(command, { ...args, "job-id": id });
      await this.until(() => this.jobStatus.get(id) === "concluded");
      if (this.failure) throw this.failure;
      const jobs = await this.execute<Array<{ id: string; error?: string }>>("query-jobs");
      const error = jobs.find((j) => j.id === id)?.error;
      // QMP answers in order: `then` is read after the dismissal, both written before either reply is awaited.
      const [, after] = await Promise.all([this.execute("job-dismiss", { id }), then && !error ? this.execute<T>(then) : undefined]);
      if (error) throw new BackendError("qmp_job_failed", `${command} failed in QEMU: ${error}`);
      return after as T;
    } finally {
      this.runningJob = null;
    }
  }

  end(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    if (!this.cancelling) this.link.close();
  }

  private receive(m: Record<string, unknown>): void {
    if ("QMP" in m) return this.greeted();
    if (m.event === "JOB_STATUS_CHANGE") {
      const data = m.data as { id: string; status: string };
      this.jobStatus.set(data.id, data.status);
      for (const w of this.watchers) w();
    } else if (typeof m.id === "number") this.waiting.get(m.id)?.(m as Reply);
  }

  private until(check: () => boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const w = () => {
        if (!this.failure && !check()) return;
        this.watchers.delete(w);
        resolve();
      };
      this.watchers.add(w);
      w();
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.watchers) w();
    for (const resolve of this.waiting.values()) resolve({});
    this.greeted();
  }

  // A job QEMU is still running is asked to stop before the link goes (QEMU finishes what cannot stop).
  private abort(): void {
    this.cancelling = this.runningJob !== null;
    if (this.runningJob) this.link.write(`${JSON.stringify({ execute: "job-cancel", arguments: { id: this.runningJob } })}\n`);
    this.fail(stopped(this.what, this.signal));
    setTimeout(() => this.link.close(), this.cancelling ? CANCEL_GRACE_MS : 0).unref();
  }
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
