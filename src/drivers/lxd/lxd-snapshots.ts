import type { BackendSnapshot, CreateRequest, CreateResult, DriverContext, SnapshotHandle, VerifyResult } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import type { LxcClient } from "./lxc-client.ts";
import { findSnapshot, getInstance, listSnapshots, lxdTime, setSnapshotExpiry, sizeOf, toBackendSnapshot } from "./lxd-api.ts";
import type { InstanceRef } from "./lxd-settings.ts";

// Snapshots that live inside LXD itself: `lxc snapshot`, `lxc restore`, `lxc delete <inst>/<snap>`.
// Names reach lxc only as argv items (the engine validated them against the contract's name rule).

/** The engine may pass the expiry the user asked for; LXD then prunes the snapshot itself. */
type Request = CreateRequest & { expiresAt?: number | null };

export async function createSnapshot(lxc: LxcClient, at: InstanceRef, req: Request, ctx: DriverContext): Promise<CreateResult> {
  const what = `snapshot ${at.ref}/${req.name}`;
  ctx.progress({ stage: "snapshotting", message: req.stateful ? "with running state" : undefined });
  await lxc.run(["snapshot", at.ref, req.name, ...(req.stateful ? ["--stateful"] : [])], { what, signal: ctx.signal });
  if (req.expiresAt) await setSnapshotExpiry(lxc, at, req.name, req.expiresAt, { what: `set the expiry of ${at.ref}/${req.name}`, signal: ctx.signal });
  const snap = await findSnapshot(lxc, at, req.name, { what, signal: ctx.signal });
  if (!snap) throw new BackendError("snapshot_missing", `${what} failed: lxc snapshot succeeded but LXD does not list ${req.name}`);
  return {
    location: null,
    size: sizeOf(snap) ?? 0,
    checksum: null,
    parts: [],
    details: { instance: at.ref, created_at: snap.created_at, stateful: snap.stateful, expires_at: lxdTime(snap.expires_at) ? snap.expires_at : null },
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

export async function restoreSnapshot(
  lxc: LxcClient,
  at: InstanceRef,
  snap: SnapshotHandle,
  opts: Record<string, unknown>,
  ctx: DriverContext,
): Promise<{ summary: string }> {
  if (opts.target !== undefined && opts.target !== null)
    throw new UserError("not_available", `${at.ref} (lxd) is restored in place: --target is for archive servers`);
  const what = `restore ${at.ref}/${snap.name}`;
  const found = await findSnapshot(lxc, at, snap.name, { what, signal: ctx.signal });
  if (!found)
    throw new BackendError("snapshot_missing", `${what} failed: LXD has no snapshot ${snap.name} of ${at.ref} (deleted or expired outside snapbot?); \`list ${snap.server}\` shows what is left`);
  ctx.progress({ stage: "restoring" });
  await lxc.run(["restore", at.ref, snap.name, ...(found.stateful ? ["--stateful"] : [])], { what, signal: ctx.signal });
  const after = await getInstance(lxc, at.remote, at.instance, { what, signal: ctx.signal });
  return { summary: `${at.ref} restored to ${snap.name}${found.stateful ? " with its running state" : ""}; now ${after.status.toLowerCase()}` };
}

export async function listBackendSnapshots(lxc: LxcClient, at: InstanceRef, ctx: DriverContext): Promise<BackendSnapshot[]> {
  const all = await listSnapshots(lxc, at, { what: `list the snapshots of ${at.ref}`, signal: ctx.signal });
  return all.map(toBackendSnapshot).sort((a, b) => a.createdAt - b.createdAt);
}
