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
import { hasLimit, makeRoom, warnNearLimit } from "./operations/limit.ts";
import type { CopyTarget, DriverContext } from "../drivers/driver.ts";
import { runOperation, type OperationHandle } from "./operations/run-operation.ts";
import { defaultSnapshotName } from "./operations/snapshot-names.ts";
import { createStoredSnapshots } from "./operations/stored-snapshots.ts";
import { errorMessage, SnapbotError, UserError } from "../errors.ts";
import { isLedgerFull } from "../../db/health.ts";
import { mention } from "../replies/mention.ts";
import { afterRemoved, moveCurrent, parentForNew } from "./operations/tree.ts";
import { copyRetentionOf, planCopies, pruneCopies } from "./schedule/copy-retention.ts";
import { createCopies } from "./copies/copies.ts";
import type { StartedCopy } from "./copies/auto-copies.ts";
import { announceSnapshotVerify, recordSnapshotVerify } from "./operations/verify-outcome.ts";
import { createHooks } from "./operations/create-hooks.ts";

export interface CreateInput extends Asker {
  server: ServerRow;
  name?: string;
  expiresAt?: number | null;
  note?: string | null;
  stateful?: boolean;
  /** Set by the scheduler: the snapshot's origin is "schedule" and the audit log names the schedule. */
  scheduleId?: number;
}


/** The snapshot operations; commands call these, drivers do the work, the ledger records it. */
export function createEngine(deps: EngineDeps) {
  const { ledger, clock } = deps;
  const copies = createCopies(deps);
  // The transactions of `batch` still open, each with whether it committed: what createLater's jobs wait for.
  const batches = new WeakMap<LedgerTx, Promise<boolean>>();

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
      const out = await startCreate(input, false);
      return { op: out.op, job: out.job, snapshot: out.snapshot()!, copies: out.copies };
    },

    /**
     * For the scheduler: the operation is recorded now (queued, or running when a slot is free), the
     * snapshot's own record when the job starts. 10,000 runs due in the same minute then cost one insert
     * each at the minute, not two. With `tx` (a transaction of `batch`), the operation is a savepoint in it,
     * and the job starts once it committed.
     */
    async createLater(input: CreateInput, tx?: LedgerTx): Promise<OperationHandle<SnapshotRow>> {
      // Another transaction gives no word of its commit: the job could start before its operation is visible.
      if (tx && !batches.has(tx)) throw new SnapbotError("internal", "createLater: record scheduled runs in a transaction of engine.batch, not ledger.tx");
      const out = await startCreate(input, true, tx);
      return { op: out.op, job: out.job };
    },

    /**
     * One transaction for many runs recorded together (the scheduler's runs due in one minute): pass its `t` to
     * createLater. Each run is a savepoint in it; their jobs start once it committed (none if it rolled back).
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

  async function startCreate(
    input: CreateInput,
    later: boolean,
    tx?: LedgerTx,
  ): Promise<OperationHandle<SnapshotRow> & { snapshot: () => SnapshotRow | undefined; copies: Promise<StartedCopy[]> }> {
    const { server } = input;
    const db: LedgerRepos = tx ?? ledger;
    const driver = deps.drivers.get(server);
    const isLive = async (n: string) => (await db.snapshots.findLive(server.id, n)) !== undefined;
    const name = input.name ?? (await defaultSnapshotName(clock.now(), isLive));
    const existing = await db.snapshots.findLive(server.id, name);
    if (existing)
      throw new UserError("snapshot_exists", `${server.name}/${name} already exists (${existing.state}): pick another name, or omit it for a dated one`);
    let snapshot: SnapshotRow | undefined;
    let started: StartedCopy[] = [];
    const hooks = createHooks(deps, server, driver, name, input.user);
    // Inside a transaction, through its handle `t`.
    const record = async (t: LedgerRepos, state: "pending" | "running") =>
      t.snapshots.insert({
        state,
        server_id: server.id,
        name,
        created_by: input.user,
        expires_at: input.expiresAt ?? null,
        note: input.note ?? null,
        stateful: input.stateful,
        origin: input.scheduleId ? "schedule" : "snapbot",
        // On a tree, a child of the current position (the lease is held from here to the commit: it cannot move).
        parent_id: await parentForNew({ drivers: deps.drivers, ledger: t }, server),
      });
    const handle = await runOperation<SnapshotRow>(
      { ...deps },
      {
        server,
        kind: "create",
        label: `create ${server.name}/${name}`,
        user: input.user,
        channel: input.channel,
        args: { name, expires_at: input.expiresAt ?? null, note: input.note ?? null, stateful: !!input.stateful, ...(input.scheduleId ? { schedule: input.scheduleId } : {}) },
        // Starting at once, the snapshot is recorded running: no pending row rewritten in the same commit.
        prepare: async (starting, t) => (later ? null : (snapshot = await record(t, starting ? "running" : "pending")).id),
        begin: async (_id, _op, t) => {
          if (snapshot?.state === "pending") snapshot = await t.snapshots.transition(snapshot.id, "running");
        },
        work: async (ctx, _id, opId) => {
          // Recorded late (createLater): inside the work, so a name taken meanwhile fails the operation.
          const snap = (snapshot ??= await ledger.tx(async (t) => {
            const taken = await t.snapshots.findLive(server.id, name);
            if (taken) throw new UserError("snapshot_exists", `${server.name}/${name} was taken (${taken.state}) while this run waited to start`);
            const s = await record(t, "running");
            await t.operations.attachSnapshot(opId, s.id);
            return s;
          }));
          const id = snap.id;
          const req = { server: server.name, name, createdAt: snap.created_at, stateful: !!input.stateful, note: input.note ?? undefined, expiresAt: input.expiresAt ?? null };
          // Pre-hooks, the driver's create and check, then post-hooks (always): the driver is never called after a failed pre-hook.
          const { res, check } = await hooks.around(ctx, async () => {
            const res = await driver.create(req, ctx);
            const check = await driver.check?.({ ...handleOf(snap), location: res.location }, res);
            if (check && !check.ok) throw new SnapbotError("check_failed", `${server.name}/${name} did not verify after writing: ${check.problems.join("; ")}`);
            return { res, check };
          });
          const ran = hooks.summary();
          const details = ran ? { ...res.details, hooks: ran } : (res.details ?? null);
          const changes = { location: res.location, size: res.size, checksum: res.checksum, checksums: res.parts, details };
          const made = res.parts.length ? `${res.size} bytes in ${res.parts.length} part(s), ${res.checksum ?? "no checksum"}` : `created on the backend${res.size === null ? "" : `, ${res.size} bytes`}`;
          return {
            result: ran ? `${made}; ${ran}` : made,
            commit: async (t) => {
              const at = clock.now();
              const done = await t.snapshots.transition(id, "done", { ...changes, finished_at: at, verified_at: check ? at : null });
              await moveCurrent({ drivers: deps.drivers, ledger: t }, server, id);
              return done;
            },
            discard: (c) => driver.delete({ ...handleOf(snap), location: res.location }, c),
          };
        },
        fail: async (_id, message, _e, t) => {
          if (snapshot) await t.snapshots.transition(snapshot.id, "failed", { error: message, finished_at: clock.now() });
        },
        failureNote: () => hooks.summary(),
        afterSuccess: async (done) => {
          await hooks.settle(done.id);
          started = await copies.afterCreate(server, done, { user: input.user, channel: input.channel });
          void warnNearLimit(deps, server).catch((e: unknown) => deps.log.warn({ err: e }, "limit check failed"));
          // Any earlier failure on this server is over, whatever name it had (a retry, or the next scheduled run).
          await deps.alerts
            .resolveAll("snapshot_failed", server, `a later snapshot succeeded: ${server.name}/${name}`)
            .catch((e: unknown) => deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not resolve snapshot_failed"));
        },
        afterFail: async (message) => {
          await hooks.settle(snapshot?.id ?? null);
          if (hooks.preFailed()) return; // hook_failed says it: nothing was taken because of the hook
          await deps.alerts
            .raise({
              kind: "snapshot_failed",
              server,
              snapshotId: snapshot?.id ?? null,
              snapshotName: name,
              title: `snapshot ${server.name}/${name} failed (asked by ${mention(input.user)})`,
              lines: [message],
              buttons: [{ label: "Retry", command: `create ${server.name} ${name}` }],
            })
            .catch((e: unknown) => deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not raise snapshot_failed"));
        },
      },
      { tx, committed: tx && batches.get(tx) },
    );
    // Filled by afterSuccess, which runs before the job resolves.
    const copiesStarted = handle.job.done.then(() => started, () => []);
    return { ...handle, snapshot: () => snapshot, copies: copiesStarted };
  }

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
