import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos } from "../../../db/ledger.ts";
import type { Clock } from "../../clock.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { DriverContext, SnapshotDriver, SnapshotHandle, VerifyOptions, VerifyResult } from "../../drivers/driver.ts";
import type { StorageTarget } from "../../storage/storage-targets.ts";
import { SIDE_FILES } from "../../storage/storage-targets.ts";
import { copyStored, targetError } from "../../storage/copy-stored.ts";
import { storedManifestSchema } from "../../storage/manifest.ts";
import { verifyParts } from "../../storage/verify-parts.ts";
import { runOperation, type OperationHandle, type WorkOutcome } from "../operations/run-operation.ts";
import { handleOf } from "../operations/snapshot-handle.ts";
import { BackendError, errorMessage, UserError } from "../../errors.ts";
import { ago } from "../../replies/format.ts";
import { copyKey, copyLease, storedAccess } from "./stored-access.ts";
import { raiseCopyFailed, resolveCopyFailed } from "./copy-alerts.ts";

// copy <server>/<snap> <target>, and each `copies:` target after a create: one operation per copy. Every part is
// streamed from where the snapshot is stored to the target (src/storage/copy-stored.ts), the manifest last, then
// the copy is read back (sizes and SHA-256 of every part) before the ledger says done. A failure removes what
// the copy wrote on the target, records the copy failed and raises copy_failed; a later good copy resolves it.

export interface CopyAsker extends Asker {
  /** Started by the server's `copies:` after a create, not typed. */
  auto?: boolean;
}

export async function copyToTarget(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, targetName: string, asker: CopyAsker): Promise<OperationHandle<CopyRow>> {
  const ref = `${server.name}/${snap.name}`;
  const planned = await copyable(deps, server, snap, targetName);
  const { target, access, source } = planned;
  let { replacing } = planned;
  const { clock } = deps;
  let copy: CopyRow | undefined;
  // In the transaction `t`: the new copy recorded (with its operation, once that is known: a replacement is recorded in the work).
  const record = async (t: LedgerRepos, opId: number | null) => {
    const row = { snapshot_id: snap.id, server_id: server.id, name: snap.name, target: target.name, created_by: asker.user };
    copy = await t.copies.insert({ ...row, snapshot_created_at: snap.created_at });
    if (opId !== null) await t.copies.annotate(copy.id, { operation_id: opId });
    return copy;
  };
  const retry = [{ label: "Retry", command: `copy ${ref} ${target.name}` }];
  return runOperation<CopyRow>(deps, {
    server,
    kind: "copy",
    label: `copy ${ref} to ${target.name}`,
    user: asker.user,
    channel: asker.channel,
    leaseKey: copyLease(server.name, snap.name, target.name),
    args: { snapshot: snap.name, target: target.name, ...(asker.auto ? { auto: true } : {}) },
    // A broken copy holds the place until its objects are gone: the new copy is recorded once they are.
    // The place is read again in this transaction: what it holds now (not when it was first read) decides.
    prepare: async (_starting, t) => {
      refuseState(ref, (await t.snapshots.get(snap.id))?.state ?? snap.state); // a delete may have begun meanwhile
      replacing = await heldPlace({ ledger: t, clock }, server, snap, target);
      if (replacing) await t.copies.transition(replacing.id, "deleting", { deleted_by: asker.user });
      else await record(t, null);
      return snap.id;
    },
    begin: async (_snap, opId, t) => {
      if (copy) await t.copies.annotate(copy.id, { operation_id: opId });
    },
    work: async (ctx, _snap, opId) => {
      if (replacing) await replace(deps, target, replacing, (t) => record(t, opId));
      const from = { store: source, key: { server: server.name, name: snap.name, location: snap.location } };
      return copyWork(deps, target, copy!, from, ctx, () => readBack(access.withStore(target.store), target, { ...handleOf(snap), location: null }, ctx));
    },
    fail: async (_id, message, _e, t) => {
      if (copy && (await t.copies.get(copy.id))?.state === "running") await t.copies.transition(copy.id, "failed", { error: message, finished_at: clock.now() });
      if (replacing && (await t.copies.get(replacing.id))?.state === "deleting") await t.copies.transition(replacing.id, "broken", { error: `not replaced: ${message}` });
    },
    afterFail: (message) => raiseCopyFailed(deps, server, snap, target.name, `copy of ${ref} to ${target.name} failed`, [message], retry),
    afterSuccess: () => resolveCopyFailed(deps, server, target.name, `a later copy succeeded: ${ref}`),
  });
}

/** Everything refused before anything is written: the target, the driver, the snapshot's state, the place. */
async function copyable(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, targetName: string) {
  const ref = `${server.name}/${snap.name}`;
  const target = deps.targets.need(targetName);
  const access = storedAccess(deps.drivers.get(server), server, ref);
  refuseState(ref, snap.state);
  const source = access.storedIn(handleOf(snap));
  if (source === target.store) throw new UserError("same_store", `${ref} is stored on ${target.name} already: there is nothing to copy`);
  return { target, access, source, replacing: await heldPlace(deps, server, snap, target) };
}

/** Only a done snapshot is copied. */
function refuseState(ref: string, state: SnapshotRow["state"]): void {
  if (state === "broken") throw new UserError("broken", `${ref} is broken: it will not be copied; run verify ${ref}, or copy another snapshot`);
  if (state !== "done") throw new UserError("not_done", `${ref} is ${state}: only done snapshots can be copied`);
}

/** The copy written and read back; its commit says done with what the manifest says. */
async function copyWork(
  deps: EngineDeps,
  target: StorageTarget,
  copy: CopyRow,
  from: Parameters<typeof copyStored>[0],
  ctx: DriverContext,
  verify: () => Promise<VerifyResult>,
): Promise<WorkOutcome<CopyRow>> {
  const key = copyKey(copy.server, copy.name);
  const out = await writeCopy(deps, target, copy, from, ctx, async () => {
    const res = await verify();
    if (!res.ok) throw new BackendError("copy_unverified", `the copy on ${target.name} did not verify after writing: ${res.problems.slice(0, 3).join("; ")}`);
  });
  const m = out.manifest;
  const changes = { size: m.total.size, checksum: `sha256:${m.total.sha256}`, parts: m.parts.length };
  return {
    result: `copied to ${target.name} (${target.store.where(key)}) and verified: ${m.total.size} bytes in ${m.parts.length} part(s)`,
    commit: (tx) => {
      const t = deps.clock.now();
      return tx.copies.transition(copy.id, "done", { ...changes, finished_at: t, verified_at: t });
    },
    discard: () => target.store.remove(key),
  };
}

/**
 * What the target already holds at <server>/<snap>: nothing, or a broken copy of this snapshot (replaced). A done
 * copy, one being made or removed, or an earlier snapshot's copy under the same name is refused in one line.
 */
async function heldPlace(deps: { ledger: LedgerRepos; clock: Pick<Clock, "now"> }, server: ServerRow, snap: SnapshotRow, target: StorageTarget): Promise<CopyRow | null> {
  const ref = `${server.name}/${snap.name}`;
  const held = await deps.ledger.copies.liveAt(server.id, snap.name, target.name);
  if (!held) return null;
  const t = target.name;
  if (held.snapshot_id !== snap.id)
    throw new UserError("copy_exists", `${t} holds the copy of an earlier ${ref} (copied ${ago(deps.clock.now(), held.created_at)}, kept after that snapshot went): it stays until ${t}'s keep removes it, so this one cannot take its place`);
  if (held.state === "running") throw new UserError("copy_running", `${ref} is being copied to ${t} already (operation #${held.operation_id ?? "?"}): see copies ${ref}`);
  if (held.state === "deleting") throw new UserError("copy_deleting", `${ref}'s copy on ${t} is being removed: copy it again once that is done`);
  if (held.state === "done") throw new UserError("already_copied", `${ref} is on ${t} already (done, last verified ${ago(deps.clock.now(), held.verified_at)}): see copies ${ref}`);
  return held; // broken: the new copy replaces it
}

/** The broken copy's objects removed, then in one transaction it is deleted and the new copy recorded in its place. */
async function replace(deps: EngineDeps, target: StorageTarget, old: CopyRow, record: (t: LedgerRepos) => Promise<unknown>): Promise<void> {
  await target.store.remove(copyKey(old.server, old.name));
  await deps.ledger.tx(async (t) => {
    await t.copies.transition(old.id, "deleted", { deleted_at: deps.clock.now(), error: "broken; replaced by a new copy" });
    await record(t);
  });
}

/** Claims the place, copies, checks; on any failure removes what it wrote (only a place it claimed itself). */
async function writeCopy(
  deps: EngineDeps,
  target: StorageTarget,
  copy: CopyRow,
  from: Parameters<typeof copyStored>[0],
  ctx: DriverContext,
  check: () => Promise<void>,
): ReturnType<typeof copyStored> {
  const key = copyKey(copy.server, copy.name);
  try {
    await target.store.create(key);
  } catch (e) {
    if (e instanceof UserError && e.code === "snapshot_exists")
      throw new BackendError("target_occupied", `${target.store.where(key)} on ${target.name} holds something the ledger does not know as a copy: move it away, then copy again`);
    throw targetError(e, target.store.where(key));
  }
  try {
    await deps.ledger.copies.annotate(copy.id, { location: target.store.where(key) });
    const out = await copyStored(from, { store: target.store, key }, SIDE_FILES, ctx);
    await check();
    return out;
  } catch (e) {
    try {
      await target.store.remove(key);
    } catch (rm) {
      ctx.log.warn({ err: errorMessage(rm), where: target.store.where(key) }, "could not remove a failed copy");
      throw new BackendError("copy_failed", `${errorMessage(e)}; what it wrote could not be removed (${errorMessage(rm)}): remove ${target.store.where(key)} by hand`, { cause: e });
    }
    throw e;
  }
}

/** The copy read back where it is: the driver's own verify on that store (its manifest schema), else the stored parts alone. */
export function readBack(reader: SnapshotDriver, target: StorageTarget, snap: SnapshotHandle, ctx: DriverContext, opts?: VerifyOptions): Promise<VerifyResult> {
  if (reader.verify) return reader.verify(snap, ctx, opts);
  return verifyParts(target.store, copyKey(snap.server, snap.name), storedManifestSchema, ctx);
}
