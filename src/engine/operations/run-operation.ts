import type { Logger } from "pino";
import type { Ledger, LedgerTx, NewOperation } from "../../../db/ledger.ts";
import type { OperationRow, ServerRow } from "../../../db/types.ts";
import type { DriverContext } from "../../drivers/driver.ts";
import type { Job, JobRunner, Lease } from "./job-runner.ts";
import type { DriverRegistry } from "../../drivers/registry.ts";
import type { AlertSink } from "../../alerts/alert-sink.ts";
import type { EngineDeps } from "../deps.ts";
import { serverTimeoutMs } from "./server-timeout.ts";
import { BackendError, errorMessage, SnapbotError } from "../../errors.ts";
import { isLedgerFull } from "../../../db/health.ts";
import type { JobContext } from "./job-runner.ts";
import { hostKeyChanged, isHostKeyChanged, refuseIfHostKeyChanged } from "../host-keys/host-keys.ts";

export interface OperationDeps {
  ledger: Ledger;
  jobs: JobRunner;
  log: Logger;
  /** With these, a changed SSH host key blocks the server and raises hostkey_changed. */
  drivers?: DriverRegistry;
  alerts?: AlertSink;
  /** With this, an operation without its own timeoutMs stops at its server's `timeout:` (else engine.timeout). */
  config?: EngineDeps["config"];
}

export interface WorkOutcome<T> {
  result: string; // one line for the audit log
  /** Ledger changes that commit together with "succeeded", through the transaction's handle `t`; returns the job's value. */
  commit: (t: LedgerTx) => T | Promise<T>;
  /** Removes what the work wrote, when its outcome can never be committed (the ledger refused it for good). */
  discard?: (ctx: DriverContext) => Promise<void>;
}

// The callbacks that run inside a transaction get its handle `t` as their last argument: they use it, never the
// outer ledger (on SQLite an outer call inside the transaction would wait for it forever).
export interface OperationSpec<T> {
  /** null: work on no one server (a whole storage target's verification); it then names its own leaseKey. */
  server: ServerRow | null;
  kind: string;
  label: string; // "create demo/nightly": shown when the server is busy
  user: string;
  channel?: string | null;
  args: Record<string, unknown>;
  /** Absent: the server's `timeout:` setting, else engine.timeout (every operation kind alike). */
  timeoutMs?: number;
  /**
   * What the lease is taken on: the server's name unless given. A copy holds its own (`<server>/<snap>@<target>`):
   * it only reads the server's snapshot, so the server's next snapshot or prune need not wait for an upload.
   */
  leaseKey?: string;
  /**
   * Inside the transaction that records the operation (insert a pending snapshot…); returns a snapshot id.
   * `starting`: the operation is recorded as running (a slot was free), and begin runs in this same transaction.
   */
  prepare?: (starting: boolean, t: LedgerTx) => number | null | Promise<number | null>;
  /** Inside the transaction that marks it running (that may be the one that records it). */
  begin?: (snapshotId: number | null, opId: number, t: LedgerTx) => void | Promise<void>;
  /** The work itself, outside any transaction; `opId` is the operation's id. */
  work: (ctx: DriverContext, snapshotId: number | null, opId: number) => Promise<WorkOutcome<T>>;
  /** Inside the transaction that marks it failed. */
  fail?: (snapshotId: number | null, message: string, error: unknown, t: LedgerTx) => void | Promise<void>;
  /** More to say about a failure, after the work ended (the hooks that ran): a line under the error, in the ledger and the reply. */
  failureNote?: () => string;
  /** After the outcome is committed: alerts and other news that must not hold the transaction (waited for before the job settles). */
  afterFail?: (message: string, error: unknown) => void | Promise<void>;
  afterSuccess?: (value: T) => void | Promise<void>;
  /**
   * An operation already recorded, with its lease taken (an approved request; the scheduler's runs that createMany
   * recorded together): it is run instead of a new one inserted, and its server's host key checked as it starts.
   * `started`: the caller took a slot (jobs.claimSlot), recorded it running and ran `begin` in that transaction.
   */
  existing?: { op: OperationRow; lease: Lease; started?: boolean };
}

export interface OperationHandle<T> {
  op: OperationRow;
  job: Job<T>;
}

/** Recording the operation inside a caller's transaction (the scheduler's batch of runs). */
export interface RunInTx {
  /** The operation (and what `prepare` and a starting `begin` write) is recorded in a savepoint of this transaction. */
  tx?: LedgerTx;
  /**
   * With `tx`: true once that transaction committed, false when it rolled back. The job waits for it before it
   * starts (its records must be visible to the ledger outside the transaction); false: it fails without running.
   */
  committed?: Promise<boolean>;
}

/** The operation's row as runOperation records it (createMany records many of them with one statement). */
export function operationRecord(spec: Pick<OperationSpec<unknown>, "kind" | "server" | "user" | "channel" | "args">, snapshotId: number | null, state: "queued" | "running"): NewOperation {
  return { kind: spec.kind, server_id: spec.server?.id ?? null, snapshot_id: snapshotId, requested_by: spec.user, channel: spec.channel ?? null, args: spec.args, state };
}

/**
 * Every action on a server goes through here: the server's lease is taken first (so a refusal writes
 * nothing), the operation is recorded, the work runs as a job, and the outcome is written to the audit
 * log in the same transaction as the snapshot's own state change.
 */
export async function runOperation<T>(deps: OperationDeps, spec: OperationSpec<T>, inTx: RunInTx = {}): Promise<OperationHandle<T>> {
  const { ledger, jobs } = deps;
  const db: LedgerTx = inTx.tx ?? ledger;
  // A server whose host key changed is refused before anything is written (approved work: when it starts).
  if (!spec.existing && spec.server) await refuseIfHostKeyChanged(db, spec.server);
  const leaseKey = spec.leaseKey ?? spec.server?.name;
  if (leaseKey === undefined) throw new SnapbotError("internal", `${spec.label}: an operation on no server needs its own lease key`);
  const lease = spec.existing?.lease ?? (await jobs.lease(leaseKey, spec.label));
  let op: OperationRow;
  let snapshotId: number | null = spec.existing?.op.snapshot_id ?? null;
  // A free slot now: the operation is recorded as running in the transaction that records it (one commit
  // where queued-then-running took two, and each rewrote the state indexes of both rows).
  const startNow = spec.existing ? spec.existing.started === true : jobs.claimSlot();
  try {
    op =
      spec.existing?.op ??
      (await db.tx(async (t) => {
        snapshotId = (await spec.prepare?.(startNow, t)) ?? null;
        const recorded = await t.operations.insert(operationRecord(spec, snapshotId, startNow ? "running" : "queued"));
        if (startNow) await spec.begin?.(snapshotId, recorded.id, t);
        return recorded;
      }));
  } catch (e) {
    if (startNow) jobs.releaseSlot();
    jobs.release(lease);
    throw e;
  }
  jobs.attach(lease, op.id);
  const log = deps.log.child({ op: op.id, kind: spec.kind, server: spec.server?.name ?? null, user: spec.user });
  const settle = outcomes(deps, spec, op, () => snapshotId, log);
  // Recorded in the caller's transaction: nothing starts before it committed (nor at all if it rolled back).
  const recorded = async () => {
    if (inTx.committed && !(await inTx.committed))
      throw new SnapbotError("not_recorded", `${spec.label} did not start: the transaction recording it was rolled back`);
  };
  const begin = async () => {
    await recorded();
    try {
      await ledger.tx(async (t) => {
        await t.operations.transition(op.id, "running");
        await spec.begin?.(snapshotId, op.id, t);
      });
    } catch (e) {
      // It never started: once the ledger can write, it is recorded as failed (not left queued).
      if (isLedgerFull(e)) settle.deferFailure(`not started: ${ledger.health.describe()}`, e);
      throw e;
    }
  };
  const opId = op.id;
  const job = jobs.run(
    lease,
    async (ctx) => {
      if (startNow) await recorded();
      let out: WorkOutcome<T>;
      try {
        if (spec.existing && spec.server) await refuseIfHostKeyChanged(ledger, spec.server);
        out = await spec.work({ ...ctx, log }, snapshotId, opId);
      } catch (e) {
        return settle.failed(e, ctx);
      }
      return settle.succeeded(out, ctx);
    },
    startNow ? undefined : begin,
    spec.timeoutMs ?? (deps.config && spec.server ? serverTimeoutMs({ config: deps.config }, spec.server) : undefined),
    { slotHeld: startNow },
  );
  return { op, job };
}

/** The line the ledger and the user get: the backend's own words, plus the last lines of its stderr. */
export function failureMessage(e: unknown, signal?: AbortSignal): string {
  if (signal?.aborted && signal.reason instanceof SnapbotError) return signal.reason.message;
  const base = e instanceof SnapbotError ? e.message : `internal error: ${errorMessage(e)}`;
  const tail = e instanceof BackendError && e.stderrTail && !base.includes(e.stderrTail.trim()) ? `\n${e.stderrTail.trim()}` : "";
  return base + tail;
}

/** The outcome of a finished work could not be written (full ledger): the user is told it is kept, not done. */
export const OUTCOME_PENDING = "outcome_pending";

/** Writing an operation's outcome, now or (the ledger full) once the ledger can write again. */
function outcomes<T>(deps: OperationDeps, spec: OperationSpec<T>, op: OperationRow, snapshotId: () => number | null, log: Logger) {
  const { ledger } = deps;
  const recordFailure = (message: string, e: unknown) =>
    ledger.tx(async (t) => {
      await spec.fail?.(snapshotId(), message, e, t);
      await t.operations.transition(op.id, "failed", { error: message });
    });
  const what = `${spec.label} (operation #${op.id})`;
  const deferFailure = (message: string, e: unknown) =>
    ledger.health.defer({
      write: async () => (await recordFailure(message, e), `${what}: recorded as failed`),
      failed: (err) => {
        log.warn({ err: errorMessage(err) }, "could not record the failure");
        return `${what}: its failure could not be recorded (${errorMessage(err)})`;
      },
    });

  async function failed(e: unknown, ctx: JobContext): Promise<never> {
    const note = spec.failureNote?.() ?? "";
    const message = failureMessage(e, ctx.signal) + (note ? `\n${note}` : "");
    if (!(e instanceof SnapbotError)) log.error({ err: e }, "operation failed unexpectedly");
    else if (!isLedgerFull(e)) log.warn({ code: e.code, message }, "operation failed");
    try {
      await recordFailure(message, e);
    } catch (err) {
      if (!isLedgerFull(err)) throw err;
      deferFailure(message, e); // the state change already logged it: no line per failed write
    }
    await spec.afterFail?.(message, e);
    if (isHostKeyChanged(e) && deps.drivers && deps.alerts && spec.server)
      await hostKeyChanged({ ledger, drivers: deps.drivers, alerts: deps.alerts, log }, spec.server, { ...ctx, log }).catch((err: unknown) =>
        log.error({ err: errorMessage(err) }, "could not record the changed host key"),
      );
    // A timeout or cancel is the story, not the "killed" error it caused in the driver.
    const thrown = ctx.signal.aborted && ctx.signal.reason instanceof SnapbotError ? ctx.signal.reason : e;
    throw note ? new NotedError(thrown, message) : thrown;
  }

  async function succeeded(out: WorkOutcome<T>, ctx: JobContext): Promise<T> {
    const commit = () =>
      ledger.tx(async (t) => {
        const v = await out.commit(t);
        await t.operations.transition(op.id, "succeeded", { result: out.result });
        return v;
      });
    let value: T;
    try {
      value = await commit();
    } catch (e) {
      if (!isLedgerFull(e)) return failed(e, ctx);
      deferCommit(out, commit);
      const kept = "its result is kept and is recorded as soon as the ledger can write again (free space there)";
      throw new SnapbotError(OUTCOME_PENDING, `${spec.label} finished, but ${ledger.health.describe()}: ${kept}`);
    }
    log.info({ result: out.result }, "operation succeeded");
    await spec.afterSuccess?.(value);
    return value;
  }

  /** The work is done and checked; its commit waits. Should the commit fail for another reason, it fails and what it wrote goes. */
  function deferCommit(out: WorkOutcome<T>, commit: () => Promise<T>): void {
    ledger.health.defer({
      write: async () => {
        const value = await commit();
        log.warn({ result: out.result }, "operation recorded once the ledger could write again");
        await spec.afterSuccess?.(value);
        return `${what}: recorded as succeeded (${out.result})`;
      },
      failed: (e) => {
        const message = `its result could not be recorded: ${errorMessage(e)}`;
        log.warn({ err: errorMessage(e) }, "operation's deferred commit failed: failing it");
        const quick = { signal: AbortSignal.timeout(600_000), progress: () => {}, log };
        void out.discard?.(quick).catch((err: unknown) => log.warn({ err: errorMessage(err) }, "could not remove what the operation wrote"));
        // The failure recorded, then told (afterFail), as a failed work is; `failed` answers at once, so this goes on alone.
        const record = async () => {
          try {
            await recordFailure(message, e);
          } catch (err) {
            log.warn({ err: errorMessage(err) }, "could not record the failure");
          }
          await spec.afterFail?.(message, e);
        };
        void record().catch((err: unknown) => log.warn({ err: errorMessage(err) }, "could not report the failure"));
        return `${what}: failed, ${message}${out.discard ? "; what it wrote is removed" : ""}`;
      },
    });
  }

  return { failed, succeeded, deferFailure };
}

/** A failure with its note (the hooks that ran) in its message, for the reply; its code, and the error as its cause, kept. */
class NotedError extends SnapbotError {
  constructor(error: unknown, message: string) {
    super(error instanceof SnapbotError ? error.code : "internal", message, { cause: error });
  }
}
