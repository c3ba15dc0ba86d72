import { EventEmitter } from "node:events";
import { UserError, SnapbotError } from "../../errors.ts";
import { formatAge } from "../../duration.ts";
import type { Progress } from "../../drivers/driver.ts";
import type { Clock } from "../../clock.ts";
import type { Coordination, LeaseHolder } from "../../../db/ledger.ts";

// Operations run as jobs: one at a time per server (a lease), at most `concurrency` at once overall,
// each with a timeout that aborts its signal so the driver kills its processes. With several replicas on one
// ledger the lease is also the ledger's (src/coordination/): taken there after this process's own map agrees.

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
  /** Whether "started" was emitted. */
  started = false;
  constructor(run: (job: Job<T>) => Promise<T>) {
    super();
    // Callers attach their listeners once they have awaited the operation's records, by when the job may have
    // started: a "started" listener attached after that is called at once, so no caller misses the start.
    (this as unknown as EventEmitter).on("newListener", (event: string | symbol, listener: () => void) => {
      if (event === "started" && this.started) listener();
    });
    this.done = run(this);
  }
}

export interface JobRunnerOptions {
  concurrency: number;
  timeoutMs: number;
  clock: Clock;
  /** The replicas' shared leases (PostgreSQL); without it, or on SQLite, this process's map is the only one. */
  coordination?: Coordination;
  /** Told when a lease could not be given back to the ledger (it lapses with this replica's heartbeat then). */
  warn?: (message: string) => void;
}

/** A lease refused: "demo is busy: …", with what holds it (its label, and the replica when it is another's). */
export class BusyError extends UserError {
  constructor(
    message: string,
    readonly holder: { label: string; replica: string | null },
  ) {
    super("server_busy", message);
  }
}

function busy(server: string, held: { label: string; since: number; opId?: number | null }, now: number, elsewhere: string | null): BusyError {
  const age = formatAge(Math.max(0, now - held.since));
  const op = held.opId ? ` (operation #${held.opId})` : "";
  const where = elsewhere ? ` on replica ${elsewhere}` : "";
  return new BusyError(`${server} is busy: ${held.label}${op} has been running for ${age}${where}; try again when it finishes`, { label: held.label, replica: elsewhere });
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

  const shared = opts.coordination?.shared ? opts.coordination : null;
  /** Gives the ledger's lease back; a failure only delays it (it lapses with this replica's heartbeat). */
  const giveBack = (key: string) => {
    if (shared) void shared.release(key).catch((e: unknown) => opts.warn?.(`could not release the lease on ${key}: ${(e as Error).message}`));
  };
  const drop = (lease: Lease) => {
    if (leases.get(lease.server) !== lease) return;
    leases.delete(lease.server);
    giveBack(lease.server);
  };

  return {
    /**
     * Takes the server's lock, or refuses with what holds it; taken before anything is written. This process's map
     * first (so two of its own callers never both pass), then, with replicas, the ledger's row.
     */
    async lease(server: string, label: string): Promise<Lease> {
      const [got] = await this.leases([{ server, label }]);
      if (got instanceof BusyError) throw got;
      return got!;
    },
    /**
     * lease() for many servers at once (the scheduler's batch): each one's lease or refusal, in order, with one
     * statement to the ledger for all of them. A failure to reach the ledger takes none and throws.
     */
    async leases(wanted: { server: string; label: string }[]): Promise<(Lease | BusyError)[]> {
      const now = opts.clock.now();
      const out: (Lease | BusyError)[] = wanted.map(({ server, label }) => {
        const held = leases.get(server);
        if (held) return busy(server, held, now, null);
        const lease: Lease = { server, label, since: now };
        leases.set(server, lease);
        return lease;
      });
      const mine = out.filter((l): l is Lease => !(l instanceof BusyError));
      if (!shared || mine.length === 0) return out;
      const forget = (lease: Lease) => {
        if (leases.get(lease.server) === lease) leases.delete(lease.server);
      };
      let others: (LeaseHolder | null)[];
      try {
        others = await shared.acquire(mine.map((l) => ({ key: l.server, label: l.label })), now);
      } catch (e) {
        mine.forEach(forget);
        throw e;
      }
      const refused = new Map<Lease, BusyError>();
      mine.forEach((lease, i) => {
        const other = others[i];
        if (!other) return;
        forget(lease);
        refused.set(lease, busy(lease.server, { label: other.label, since: other.since, opId: other.operationId }, opts.clock.now(), other.replica));
      });
      return out.map((l) => (l instanceof BusyError ? l : (refused.get(l) ?? l)));
    },
    /** The operation a lease is for, once recorded: what a refusal names, here and on the other replicas. */
    attach(lease: Lease, opId: number): void {
      if (lease.opId !== opId) this.attachAll([{ lease, opId }]);
    },
    /** attach() for many leases with one statement to the ledger (the scheduler's batch). */
    attachAll(pairs: { lease: Lease; opId: number }[]): void {
      for (const { lease, opId } of pairs) lease.opId = opId;
      if (!shared || pairs.length === 0) return;
      const what = pairs.length === 1 ? `operation #${pairs[0]!.opId} on the lease of ${pairs[0]!.lease.server}` : `${pairs.length} operations on their leases`;
      void shared.attach(pairs.map((p) => ({ key: p.lease.server, operationId: p.opId }))).catch((e: unknown) => opts.warn?.(`could not record ${what}: ${(e as Error).message}`));
    },
    /**
     * The ledger no longer vouches for this replica's leases (its heartbeat lapsed: another replica may hold them
     * and settle its work as interrupted): every running job stops, as on a timeout, with `reason`.
     */
    abortRunning(reason: Error): void {
      for (const ac of controllers) ac.abort(reason);
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
     * Runs work under a lease; `onStart` runs (and is waited for) when a concurrency slot is free, before the
     * work. With `slotHeld` the caller took the slot with claimSlot (and did its own start): the work starts at once.
     */
    run<T>(lease: Lease, work: (ctx: JobContext) => Promise<T>, onStart?: () => void | Promise<void>, timeoutMs = opts.timeoutMs, o: { slotHeld?: boolean } = {}): Job<T> {
      const job = new Job<T>(async (self) => {
        // Never synchronously: the caller attaches its listeners (started, progress) after run() returns.
        await (o.slotHeld ? undefined : slot());
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new TimeoutError(timeoutMs)), timeoutMs);
        controllers.add(ac);
        if (stopping) ac.abort(stopping);
        try {
          await onStart?.();
          self.started = true;
          self.emit("started");
          return await work({ signal: ac.signal, progress: (p) => self.emit("progress", p) });
        } finally {
          clearTimeout(timer);
          controllers.delete(ac);
          drop(lease);
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
      drop(lease);
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
