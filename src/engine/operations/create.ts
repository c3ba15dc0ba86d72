import type { Asker, EngineDeps } from "../deps.ts";
import type { OperationRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos, LedgerTx } from "../../../db/ledger.ts";
import type { Copies } from "../copies/copies.ts";
import type { StartedCopy } from "../copies/auto-copies.ts";
import { operationRecord, runOperation, type OperationHandle, type OperationSpec } from "./run-operation.ts";
import { BusyError } from "./job-runner.ts";
import { defaultSnapshotName } from "./snapshot-names.ts";
import { handleOf } from "./snapshot-handle.ts";
import { warnNearLimit } from "./limit.ts";
import { moveCurrent, parentForNew } from "./tree.ts";
import { createHooks } from "./create-hooks.ts";
import { hostKeyChangedRefusal } from "../host-keys/host-keys.ts";
import { mention } from "../../replies/mention.ts";
import { errorMessage, SnapbotError, UserError } from "../../errors.ts";

// Creating a snapshot: one at a time (create), or the scheduler's runs due in one minute, many at once with one
// statement per step for all of them (createMany), their snapshots recorded as their jobs start.

export interface CreateInput extends Asker {
  server: ServerRow;
  name?: string;
  expiresAt?: number | null;
  note?: string | null;
  stateful?: boolean;
  /** Set by the scheduler: the snapshot's origin is "schedule" and the audit log names the schedule. */
  scheduleId?: number;
}

export type CreateHandle = OperationHandle<SnapshotRow> & { snapshot: () => SnapshotRow | undefined; copies: Promise<StartedCopy[]> };
/** One of createMany's answers: the run's handle, or why it was refused (busy, name taken, host key changed). */
export type CreateAnswer = OperationHandle<SnapshotRow> | { refused: unknown };

const exists = (server: ServerRow, name: string, state: string) =>
  new UserError("snapshot_exists", `${server.name}/${name} already exists (${state}): pick another name, or omit it for a dated one`);

/** `committedOf(tx)`: for a transaction of engine.batch, whether it committed (what a job recorded in it waits for). */
export function createCreates(deps: EngineDeps, copies: Copies, committedOf: (tx: LedgerTx) => Promise<boolean> | undefined) {
  const { ledger, clock } = deps;

  /**
   * The create's operation, for a snapshot of that name. `later`: the snapshot's own record is made when the job
   * starts (the scheduler's runs), else with the operation.
   */
  function createSpec(input: CreateInput, name: string, later: boolean) {
    const { server } = input;
    const driver = deps.drivers.get(server);
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
    const spec: OperationSpec<SnapshotRow> = {
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
        // Recorded late (the scheduler's runs): inside the work, so a name taken meanwhile fails the operation.
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
    };
    return { spec, snapshot: () => snapshot, started: () => started };
  }

  /** What a started create answers: its snapshot (once recorded) and the copies it started (filled by afterSuccess, before the job resolves). */
  const handleWith = (handle: OperationHandle<SnapshotRow>, c: ReturnType<typeof createSpec>): CreateHandle => ({
    ...handle,
    snapshot: c.snapshot,
    copies: handle.job.done.then(c.started, () => []),
  });

  /** One create; `later` as in createSpec; with `tx` (a transaction of engine.batch) its operation is recorded there. */
  async function start(input: CreateInput, later: boolean, tx?: LedgerTx): Promise<CreateHandle> {
    const { server } = input;
    const db: LedgerRepos = tx ?? ledger;
    const isLive = async (n: string) => (await db.snapshots.findLive(server.id, n)) !== undefined;
    const name = input.name ?? (await defaultSnapshotName(clock.now(), isLive));
    const existing = await db.snapshots.findLive(server.id, name);
    if (existing) throw exists(server, name, existing.state);
    const c = createSpec(input, name, later);
    return handleWith(await runOperation(deps, c.spec, { tx, committed: tx && committedOf(tx) }), c);
  }

  /**
   * The scheduler's runs, in one transaction of engine.batch: the blocked servers, the names taken, the leases
   * and the operations are each one statement for all of them (10,000 runs due in one minute are 40 batches of a
   * few statements, not 10,000 runs of ten). Each input's handle, or why it was refused; a run whose dated name is
   * taken goes the one-by-one way (which picks the next free one). A failure to record them throws, leases given back.
   */
  async function many(inputs: CreateInput[], tx: LedgerTx): Promise<CreateAnswer[]> {
    const committed = committedOf(tx);
    if (!committed) throw new SnapbotError("internal", "createMany: record scheduled runs in a transaction of engine.batch, not ledger.tx");
    const dated = await defaultSnapshotName(clock.now(), () => false);
    const names = inputs.map((i) => i.name ?? dated);
    const blocked = await tx.hostKeys.blockedAmong([...new Set(inputs.map((i) => i.server.id))]);
    const open = inputs.flatMap((input, i) => (blocked.has(input.server.id) ? [] : [i]));
    const taken = new Map((await tx.snapshots.liveAmong(open.map((i) => ({ serverId: inputs[i]!.server.id, name: names[i]! })))).map((s) => [`${s.server_id}/${s.name}`, s]));
    const unset = new SnapbotError("internal", "createMany: a run was left unanswered");
    const out: CreateAnswer[] = inputs.map((input) => ({ refused: blocked.has(input.server.id) ? hostKeyChangedRefusal(input.server) : unset }));
    const oneByOne: number[] = [];
    const fast: number[] = [];
    for (const i of open) {
      const { server, name } = inputs[i]!;
      const other = taken.get(`${server.id}/${names[i]}`);
      if (!other) fast.push(i);
      else if (name !== undefined) out[i] = { refused: exists(server, name, other.state) };
      else oneByOne.push(i);
    }
    const runs = fast.flatMap((i) => {
      try {
        return [{ i, c: createSpec(inputs[i]!, names[i]!, true) }];
      } catch (refused) {
        out[i] = { refused }; // its driver cannot be made (its settings): this run alone is refused
        return [];
      }
    });
    const leases = await deps.jobs.leases(runs.map((r) => ({ server: r.c.spec.server!.name, label: r.c.spec.label })));
    const go = runs.flatMap((r, k) => {
      const lease = leases[k]!;
      if (lease instanceof BusyError) return (out[r.i] = { refused: lease }), [];
      return [{ ...r, lease }];
    });
    // As runOperation does: while a slot is free, a run is recorded running (one write where queued-then-running took two).
    const starts = go.map(() => deps.jobs.claimSlot());
    let ops: OperationRow[];
    try {
      ops = await tx.tx(async (t) => {
        const recorded = await t.operations.insertMany(go.map((g, k) => operationRecord(g.c.spec, null, starts[k] ? "running" : "queued")));
        for (const [k, g] of go.entries()) if (starts[k]) await g.c.spec.begin?.(null, recorded[k]!.id, t);
        return recorded;
      });
    } catch (e) {
      for (const [k, g] of go.entries()) {
        if (starts[k]) deps.jobs.releaseSlot();
        deps.jobs.release(g.lease);
      }
      throw e;
    }
    deps.jobs.attachAll(go.map((g, k) => ({ lease: g.lease, opId: ops[k]!.id })));
    for (const [k, g] of go.entries()) {
      out[g.i] = await runOperation(deps, { ...g.c.spec, existing: { op: ops[k]!, lease: g.lease, started: starts[k] } }, { committed });
    }
    for (const i of oneByOne) out[i] = await start(inputs[i]!, true, tx).catch((refused: unknown) => ({ refused }));
    return out;
  }

  return { start, many };
}
