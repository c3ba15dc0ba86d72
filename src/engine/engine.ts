import type { Asker, EngineDeps } from "./deps.ts";
import type { ServerRow, SnapshotRow } from "../../db/types.ts";
import type { LedgerRepos, LedgerTx } from "../../db/ledger.ts";
import type { Lease } from "./operations/job-runner.ts";
import type { VerifyOptions, VerifyResult } from "../drivers/driver.ts";
import { capabilityOf, handleOf, refuseFullVerify } from "./operations/snapshot-handle.ts";
import { createApprovals } from "./approvals/approvals.ts";
import { cloneSnapshot, copySnapshot, copyTargetOf } from "./operations/copy-clone.ts";
import { exportSnapshot } from "./operations/export-op.ts";
import type { ExportFormat } from "../drivers/driver.ts";
import { syncBackend } from "./operations/backend-sync.ts";
import { acceptHostKeys, recordAndAlert, scanHostKeys, settleAtStartup } from "./host-keys/host-keys.ts";
import { hasLimit, makeRoom } from "./operations/limit.ts";
import type { CopyTarget, DriverContext } from "../drivers/driver.ts";
import { runOperation, type OperationHandle } from "./operations/run-operation.ts";
import { createStoredSnapshots } from "./operations/stored-snapshots.ts";
import { UserError } from "../errors.ts";
import { isLedgerFull } from "../../db/health.ts";
import { afterRemoved } from "./operations/tree.ts";
import { copyRetentionOf, planCopies, pruneCopies } from "./schedule/copy-retention.ts";
import { createCopies } from "./copies/copies.ts";
import type { StartedCopy } from "./copies/auto-copies.ts";
import { announceSnapshotVerify, recordSnapshotVerify } from "./operations/verify-outcome.ts";
import { createCreates, type CreateAnswer, type CreateInput } from "./operations/create.ts";

export type { CreateInput } from "./operations/create.ts";

/** The snapshot operations; commands call these, drivers do the work, the ledger records it. */
export function createEngine(deps: EngineDeps) {
  const { ledger, clock } = deps;
  const copies = createCopies(deps);
  // The transactions of `batch` still open, each with whether it committed: what createMany's jobs wait for.
  const batches = new WeakMap<LedgerTx, Promise<boolean>>();
  const creates = createCreates(deps, copies, (tx) => batches.get(tx));

  return {
    lease: (server: string, label: string) => deps.jobs.lease(server, label),
    release: (lease: Lease) => deps.jobs.release(lease),
    idle: () => deps.jobs.idle(),
    approvals: createApprovals(deps),
    /** storage scan / adopt / remove: what storage holds that the ledger does not know. */
    storage: createStoredSnapshots(deps, () => quickContext(deps)),
    /** Copies of stored snapshots on storage targets: copy, verify --from, `copies:`, each target's retention. */
    copies,
    /** The configured storage targets (storage.targets). */
    targets: deps.targets,
    copy: (server: ServerRow, snap: SnapshotRow, target: CopyTarget, asker: Asker) => copySnapshot(deps, server, snap, target, asker),
    /** copy's destination: what was typed, or the driver's default (LXD: the snapshot server). */
    copyTarget: (server: ServerRow, given: string | undefined) => copyTargetOf(deps, server, given),
    /** The policy of the place the server's copies are kept (LXD: the snapshot server's); null when none. */
    copyRetention: (server: ServerRow) => copyRetentionOf(deps, server),
    /** prune --dry-run: what that policy would remove of the copies there now. */
    planCopies: (server: ServerRow) => planCopies(deps, server, quickContext(deps)),
    /** Applies that policy to the copies there (removals as one operation); null when the server has none. */
    pruneCopies: (server: ServerRow, asker: Asker) => pruneCopies(deps, server, asker, quickContext(deps)),
    clone: (server: ServerRow, snap: SnapshotRow, newName: string, asker: Asker) => cloneSnapshot(deps, server, snap, newName, asker),
    export: (server: ServerRow, snap: SnapshotRow, format: ExportFormat, asker: Asker) => exportSnapshot(deps, server, snap, format, asker),
    /** Ledger brought up to date with a backend that keeps its own snapshots (no-op for the others). */
    sync: (server: ServerRow) =>
      syncBackend(deps, server, quickContext(deps)).catch((e: unknown) => {
        if (isLedgerFull(e)) return { imported: [], vanished: [] }; // list still shows what the ledger has
        throw e;
      }),
    scanHostKeys: () => scanHostKeys(deps, quickContext(deps)),
    /** Start-up: open hostkey_regen_needed alerts between servers that are one machine are resolved. */
    settleHostKeyAlerts: () => settleAtStartup(deps),
    /** At registration: the server's host keys recorded (null when its driver has none), shared ones alerted. */
    recordHostKeys: (server: ServerRow) => recordAndAlert(deps, server, quickContext(deps)),
    /** hostkeys accept (admins): the changed key the server presents becomes the recorded one. */
    acceptHostKeys: (server: ServerRow, asker: Asker) => acceptHostKeys(deps, server, quickContext(deps), asker.user, asker.channel ?? null),
    /** alerts ack: recorded on the alert and in the audit log; its message says who acknowledged it. */
    ackAlert: (id: number, asker: Asker) => deps.alerts.acknowledge(id, asker.user, asker.channel ?? null),
    /** Whether the server's backend has a snapshot limit (so a create may need makeRoom first). */
    hasLimit: (server: ServerRow) => hasLimit(deps, server),
    /** Before a create on a backend with a limit: prune the oldest expired snapshot, or refuse. */
    makeRoom(server: ServerRow, asker: Asker) {
      return makeRoom(deps, server, asker, quickContext(deps), (snap) => this.delete(server, snap, asker));
    },

    /** `copies`: the server's `copies:` started once the snapshot is done (none when it failed or has none). */
    async create(input: CreateInput): Promise<OperationHandle<SnapshotRow> & { snapshot: SnapshotRow; copies: Promise<StartedCopy[]> }> {
      const out = await creates.start(input, false);
      return { op: out.op, job: out.job, snapshot: out.snapshot()!, copies: out.copies };
    },

    /**
     * For the scheduler: its runs due in one minute, in one transaction of `batch`, with one statement per step for
     * all of them. Each operation is recorded now (queued, or running while a slot is free), the snapshot's own record
     * when its job starts; the jobs start once the transaction committed. Each input's handle, or why it was refused
     * (busy, name taken, host key changed).
     */
    createMany: (inputs: CreateInput[], tx: LedgerTx): Promise<CreateAnswer[]> => creates.many(inputs, tx),

    /**
     * One transaction for many runs recorded together (the scheduler's runs due in one minute): pass its `t` to
     * createMany. Their jobs start once it committed (none if it rolled back).
     */
    async batch<R>(fn: (t: LedgerTx) => Promise<R>): Promise<R> {
      let settle!: (committed: boolean) => void;
      const committed = new Promise<boolean>((resolve) => (settle = resolve));
      let handle: LedgerTx | undefined;
      try {
        const out = await ledger.tx((t) => {
          handle = t;
          batches.set(t, committed);
          return fn(t);
        });
        settle(true);
        return out;
      } catch (e) {
        settle(false);
        throw e;
      } finally {
        if (handle && batches.get(handle) === committed) batches.delete(handle);
      }
    },

    async verify(server: ServerRow, snap: SnapshotRow, asker: Asker, opts: VerifyOptions = {}): Promise<OperationHandle<VerifyResult>> {
      const driver = deps.drivers.get(server);
      const verify = capabilityOf(driver, "verify", server);
      if (opts.full) refuseFullVerify(deps.drivers.features(server), server);
      if (snap.state !== "done" && snap.state !== "broken")
        throw new UserError("not_verifiable", `${server.name}/${snap.name} is ${snap.state}: only done or broken snapshots can be verified`);
      const full = opts.full === true;
      return runOperation<VerifyResult>(deps, {
        server,
        kind: "verify",
        label: `verify ${server.name}/${snap.name}${full ? " --full" : ""}`,
        ...asker,
        args: full ? { snapshot: snap.name, full } : { snapshot: snap.name },
        work: async (ctx) => {
          const res = await verify.call(driver, handleOf(snap), ctx, full ? { full } : undefined);
          const result = res.ok ? `verified ${res.checkedBytes} bytes` : `broken: ${res.problems.join("; ")}`;
          return { result, commit: async (t) => (await recordVerify(t, snap, res), res) };
        },
        afterSuccess: (res) => announceSnapshotVerify(deps, server, snap, res),
      });
    },

    /** With `retention` (why retention removes it), the operation is a "prune" and a done snapshot ends `expired`. */
    async delete(server: ServerRow, snap: SnapshotRow, asker: Asker, retention?: string): Promise<OperationHandle<SnapshotRow>> {
      const driver = deps.drivers.get(server);
      if (!["done", "broken", "failed"].includes(snap.state))
        throw new UserError("not_deletable", `${server.name}/${snap.name} is ${snap.state}: wait for it to finish, then delete it`);
      await refuseIfCopying(ledger, server, snap);
      const end = retention && snap.state === "done" ? "expired" : "deleted";
      return runOperation<SnapshotRow>(deps, {
        server,
        kind: retention ? "prune" : "delete",
        label: `${retention ? "prune" : "delete"} ${server.name}/${snap.name}`,
        ...asker,
        args: retention ? { snapshot: snap.name, reason: retention } : { snapshot: snap.name },
        // Again in the transaction that records the delete: a copy that started meanwhile is not read from under it.
        prepare: async (_starting, t) => (await refuseIfCopying(t, server, snap), snap.id),
        begin: async (_id, _op, t) => {
          if (snap.state !== "failed") await t.snapshots.transition(snap.id, "deleting");
        },
        work: async (ctx) => {
          // A failed create already removed what it wrote; its name may belong to a newer snapshot by now,
          // so the backend is not touched: only the ledger record is cleared.
          if (snap.state !== "failed") await driver.delete(handleOf(snap), ctx);
          const commit = async (t: LedgerTx) => {
            const gone = await t.snapshots.transition(snap.id, end, { deleted_at: clock.now(), deleted_by: asker.user });
            await afterRemoved(t, gone); // its children go to its parent (and the current position, if it was it)
            return gone;
          };
          return { result: end, commit };
        },
        fail: async (_id, message, _e, t) => {
          if ((await t.snapshots.get(snap.id))?.state === "deleting") await t.snapshots.transition(snap.id, "broken", { error: `delete failed: ${message}` });
        },
      });
    },
  };

  function recordVerify(t: LedgerTx, snap: SnapshotRow, res: VerifyResult): Promise<void> {
    return recordSnapshotVerify({ ledger: t, clock }, snap, res);
  }
}

/** A copy reads the snapshot where it is stored; its copies elsewhere are not touched by a delete. */
async function refuseIfCopying(ledger: LedgerRepos, server: ServerRow, snap: SnapshotRow): Promise<void> {
  const copying = (await ledger.copies.ofSnapshot(snap.id)).find((c) => c.state === "running");
  if (copying)
    throw new UserError("being_copied", `${server.name}/${snap.name} is being copied to ${copying.target} (operation #${copying.operation_id ?? "?"}): delete it once the copy is done`);
}

export type Engine = ReturnType<typeof createEngine>;


/** For quick backend calls outside a job (list's sync, scans): bounded, no progress. */
function quickContext(deps: EngineDeps): DriverContext {
  return { signal: AbortSignal.timeout(60_000), progress: () => {}, log: deps.log };
}
