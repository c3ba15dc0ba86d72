import type { BackendSnapshot, CreateRequest, CreateResult, DriverContext, SnapshotHandle, VerifyResult } from "../driver.ts";
import type { RestoreDescription, RestoreOptions } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { LxcClient } from "./lxc-client.ts";
import { findSnapshot, getInstance, listSnapshots, postSnapshot, sizeOf, toBackendSnapshot } from "./lxd-api.ts";
import type { InstanceRef } from "./lxd-settings.ts";

// Snapshots that live inside LXD itself: `lxc snapshot`, `lxc restore`, `lxc delete <inst>/<snap>`.
// Names reach lxc only as argv items (the engine validated them against the contract's name rule).

/** The engine may pass the expiry the user asked for; LXD then prunes the snapshot itself. */
type Request = CreateRequest & { expiresAt?: number | null };

export async function createSnapshot(lxc: LxcClient, at: InstanceRef, req: Request, ctx: DriverContext): Promise<CreateResult> {
  const what = `snapshot ${at.ref}/${req.name}`;
  ctx.progress({ stage: "snapshotting", message: req.stateful ? "with running state" : undefined });
  // One lxc call that waits for LXD's own operation: its Success is LXD confirming the snapshot exists
  // (a second read-back call would cost ~15 ms of lxc start-up on every create for no new fact).
  const expires = req.expiresAt ? new Date(req.expiresAt).toISOString() : undefined;
  await postSnapshot(lxc, at, { name: req.name, stateful: req.stateful, ...(expires ? { expires_at: expires } : {}) }, { what, signal: ctx.signal });
  return {
    location: null,
    size: null, // LXD reports no per-snapshot size on most storage drivers; `list` shows "—"
    checksum: null,
    parts: [],
    details: { instance: at.ref, stateful: req.stateful, expires_at: expires ?? null },
  };
}

/** LXD keeps no content hash: a snapshot is good when LXD still lists it. */
export async function snapshotPresent(lxc: LxcClient, at: InstanceRef, snap: SnapshotHandle, signal?: AbortSignal): Promise<VerifyResult> {
  const found = await findSnapshot(lxc, at, snap.name, { what: `check ${at.ref}/${snap.name}`, signal });
  if (found) return { ok: true, problems: [], checkedBytes: sizeOf(found) ?? 0 };
  return { ok: false, problems: [`snapshot ${snap.name} is missing on ${at.ref}`], checkedBytes: 0 };
}

export async function deleteSnapshot(lxc: LxcClient, at: InstanceRef, snap: SnapshotHandle, ctx: DriverContext): Promise<void> {
  ctx.progress({ stage: "deleting" });
  try {
    await lxc.run(["delete", `${at.ref}/${snap.name}`], { what: `delete ${at.ref}/${snap.name}`, signal: ctx.signal });
  } catch (e) {
    // Deleted by hand or expired by LXD: the goal is reached. A missing instance is not: wrong settings?
    if (e instanceof BackendError && e.code === "snapshot_missing") return ctx.log.info({ snapshot: snap.name }, "already gone from LXD");
    throw e;
  }
}

/** What restoreSnapshot would do: roll the instance back, with the running state where the snapshot has one. */
export async function describeSnapshotRestore(
  lxc: LxcClient,
  at: InstanceRef,
  snap: SnapshotHandle,
  opts: RestoreOptions,
): Promise<RestoreDescription> {
  refuseOptions(at, snap, opts);
  const what = `restore ${at.ref}/${snap.name}`;
  const found = await findOrRefuse(lxc, at, snap, { what });
  const status = (await getInstance(lxc, at.remote, at.instance, { what })).status.toLowerCase();
  // lxc restore: a stateful snapshot brings its processes back; otherwise a running instance is restarted.
  const running = `${at.ref} is running: LXD stops it, rolls it back and starts it again`;
  const notes = found.stateful
    ? ["the snapshot holds the running state: LXD brings the instance back running as it was then (lxc restore --stateful)"]
    : [status === "running" ? running : `${at.ref} is ${status} and stays ${status}`];
  return { writes: rolledBack(at, snap, found.stateful), notes, bytes: sizeOf(found) };
}

export async function restoreSnapshot(
  lxc: LxcClient,
  at: InstanceRef,
  snap: SnapshotHandle,
  opts: RestoreOptions,
  ctx: DriverContext,
): Promise<{ summary: string }> {
  refuseOptions(at, snap, opts);
  const what = `restore ${at.ref}/${snap.name}`;
  const found = await findOrRefuse(lxc, at, snap, { what, signal: ctx.signal });
  ctx.progress({ stage: "restoring" });
  await lxc.run(["restore", at.ref, snap.name, ...(found.stateful ? ["--stateful"] : [])], { what, signal: ctx.signal });
  const after = await getInstance(lxc, at.remote, at.instance, { what, signal: ctx.signal });
  return { summary: `restored ${rolledBack(at, snap, found.stateful)}; now ${after.status.toLowerCase()}` };
}

const rolledBack = (at: InstanceRef, snap: SnapshotHandle, stateful: boolean) =>
  `the instance ${at.ref}, rolled back to ${snap.name}${stateful ? " with its running state" : ""} (changes made since then are lost)`;

function refuseOptions(at: InstanceRef, snap: SnapshotHandle, opts: RestoreOptions): void {
  if (opts.target !== undefined && opts.target !== null)
    throw new UserError("not_available", `${at.ref} (lxd) is restored in place: --target is for archive servers`);
  if (opts.to !== undefined)
    throw new UserError(
      "bad_destination",
      `${at.ref} (lxd) is restored in place: to put ${snap.server}/${snap.name} on another LXD server use copy or clone`,
    );
}

async function findOrRefuse(lxc: LxcClient, at: InstanceRef, snap: SnapshotHandle, call: { what: string; signal?: AbortSignal }) {
  const found = await findSnapshot(lxc, at, snap.name, call);
  if (!found)
    throw new BackendError(
      "snapshot_missing",
      `${call.what} failed: LXD has no snapshot ${snap.name} of ${at.ref} (deleted or expired outside snapbot?); \`list ${snap.server}\` shows what is left`,
    );
  return found;
}

export async function listBackendSnapshots(lxc: LxcClient, at: InstanceRef, ctx: DriverContext): Promise<BackendSnapshot[]> {
  const all = await listSnapshots(lxc, at, { what: `list the snapshots of ${at.ref}`, signal: ctx.signal });
  return all.map(toBackendSnapshot).sort((a, b) => a.createdAt - b.createdAt);
}
