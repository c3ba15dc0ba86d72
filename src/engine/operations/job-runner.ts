import { EventEmitter } from "node:events";
import { UserError, SnapbotError } from "../../errors.ts";
import { formatAge } from "../../duration.ts";
import type { Progress } from "../../drivers/driver.ts";
import type { Clock } from "../../clock.ts";

// Operations run as jobs: one at a time per server (a lease), at most `concurrency` at once overall,
// each with a timeout that aborts its signal so the driver kills its processes.

export interface JobContext {
  signal: AbortSignal;
  progress(p: Progress): void;
}

export interface Lease {
  server: string;
  label: string;
  since: number;
  opId?: number;
}

export interface JobEvents {
  progress: [Progress];
  started: [];
}

export class Job<T> extends EventEmitter<JobEvents> {
  readonly done: Promise<T>;
  constructor(run: (job: Job<T>) => Promise<T>) {
    super();
    this.done = run(this);
  }
}

export interface JobRunnerOptions {
  concurrency: number;
  timeoutMs: number;
  clock: Clock;
}

export class TimeoutError extends SnapbotError {
  constructor(ms: number) {
    super("timeout", `timed out after ${formatAge(ms)}: the operation was stopped`);
  }
}

export function createJobRunner(opts: JobRunnerOptions) {
  const leases = new Map<string, Lease>();
  const running = new Set<Promise<unknown>>();
  const waiting: Array<() => void> = [];
  const controllers = new Set<AbortController>();
  let stopping: Error | null = null; // set by abortAll: jobs still waiting for a slot start aborted
  let active = 0;

  const slot = (): Promise<void> =>
    active < opts.concurrency ? Promise.resolve(void active++) : new Promise((res) => waiting.push(() => res(void active++)));
  const release = () => {
    active--;
    waiting.shift()?.();
  };

  return {
    /** Takes the server's lock now, or refuses with what holds it; taken before anything is written. */
    lease(server: string, label: string): Lease {
      const held = leases.get(server);
      if (held) {
        const age = formatAge(opts.clock.now() - held.since);
        const op = held.opId ? ` (operation #${held.opId})` : "";
        throw new UserError("server_busy", `${server} is busy: ${held.label}${op} has been running for ${age}; try again when it finishes`);
      }
      const lease: Lease = { server, label, since: opts.clock.now() };
      leases.set(server, lease);
      return lease;
    },
    /**
     * Takes a concurrency slot now if one is free, for a caller that records the start in the same
     * transaction as the operation itself (one commit instead of two) and then runs with `slotHeld`.
     * False when every slot is busy or a forced stop is under way: then run() waits for one as usual.
     */
    claimSlot(): boolean {
      if (stopping || active >= opts.concurrency) return false;
      active++;
      return true;
    },
    /** Gives back a slot claimSlot took, when the work it was for will not run (its recording failed). */
    releaseSlot: release,
    /**
     * Runs work under a lease; `onStart` runs when a concurrency slot is free, before the work. With
     * `slotHeld` the caller took the slot with claimSlot (and did its own start): the work starts at once.
     */
    run<T>(lease: Lease, work: (ctx: JobContext) => Promise<T>, onStart?: () => void, timeoutMs = opts.timeoutMs, o: { slotHeld?: boolean } = {}): Job<T> {
      const job = new Job<T>(async (self) => {
        // Never synchronously: the caller attaches its listeners (started, progress) after run() returns.
        await (o.slotHeld ? undefined : slot());
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new TimeoutError(timeoutMs)), timeoutMs);
        controllers.add(ac);
        if (stopping) ac.abort(stopping);
        try {
          onStart?.();
          self.emit("started");
          return await work({ signal: ac.signal, progress: (p) => self.emit("progress", p) });
        } finally {
          clearTimeout(timer);
          controllers.delete(ac);
          leases.delete(lease.server);
          release();
        }
      });
      const settled = job.done.then(
        () => undefined,
        () => undefined,
      );
      running.add(settled);
      void settled.then(() => running.delete(settled));
      return job;
    },
    release(lease: Lease): void {
      if (leases.get(lease.server) === lease) leases.delete(lease.server);
    },
    busy(server: string): Lease | undefined {
      return leases.get(server);
    },
    /**
     * A forced stop: every job's signal aborts (its processes are killed, its partial files removed, as on
     * a timeout), and so does any job that gets a slot later. Resolves when they have all finished.
     */
    abortAll(reason: Error): Promise<void> {
      stopping ??= reason;
      for (const ac of controllers) ac.abort(reason);
      return this.idle();
    },
    /** Resolves when every job started so far has finished (console end of input, shutdown). */
    async idle(): Promise<void> {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
export type JobRunner = ReturnType<typeof createJobRunner>;
