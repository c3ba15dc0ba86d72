import type { CopyResult, CopyTarget, DriverContext, SnapshotHandle } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import { NAME_PATTERN } from "../../names.ts";
import type { LxcClient } from "./lxc-client.ts";
import { findInstance, findSnapshot, getInstance, listSnapshots } from "./lxd-api.ts";
import { onRemote, type InstanceRef } from "./lxd-settings.ts";
import { syncProfiles } from "./profile-sync.ts";
import { clearExpiries, doomedBy, isKeptCopy, keepDoomed, readTimes, SOURCE_KEY, TIMES_KEY, type Times } from "./kept-copies.ts";

// The seed's snapshot-server walk-through as one operation: profiles first, `lxc copy <inst>/<snap>
// <remote>:<name>`, then boot.autostart 0 so the copy cannot start (and take production's addresses)
// when the snapshot server reboots. The first copy makes the target from the snapshot; every copy then
// refreshes it, since LXD 5.0 refuses `--refresh` with a snapshot as the source (see refreshCopy). The
// copies a refresh would delete are kept first (kept-copies.ts): the snapshot server's own keep prunes them.

const REMOTE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function copySnapshot(lxc: LxcClient, at: InstanceRef, snap: SnapshotHandle, target: CopyTarget, ctx: DriverContext): Promise<CopyResult> {
  checkTarget(target);
  const dest: InstanceRef = { instance: target.name, remote: target.remote, ref: onRemote(target.remote, target.name) };
  const call = { what: `copy ${at.ref}/${snap.name} to ${dest.ref}`, signal: ctx.signal };
  const source = await findSnapshot(lxc, at, snap.name, call);
  if (!source) throw new BackendError("snapshot_missing", `${call.what} failed: LXD has no snapshot ${snap.name} of ${at.ref}`);
  const instance = await getInstance(lxc, at.remote, at.instance, call);

  ctx.progress({ stage: "profiles" });
  const profiles = [...new Set([...instance.profiles, ...source.profiles])];
  const sync = await syncProfiles(lxc, at.remote, target.remote, profiles, call);

  const existing = await findInstance(lxc, target.remote, target.name, call);
  const mark = [`boot.autostart=0`, `${SOURCE_KEY}=${at.ref}`];
  if (existing) checkRefreshable(at, snap.name, dest, existing);
  else {
    ctx.progress({ stage: "copying" });
    // Created with autostart off: there is no moment where a reboot of the snapshot server starts it.
    await lxc.run(["copy", `${at.ref}/${snap.name}`, dest.ref, ...mark.flatMap((m) => ["-c", m])], call);
  }
  // The first copy too: the target then holds the snapshot as a snapshot, which later copies keep.
  const refresh = await refreshCopy(lxc, at, snap.name, dest, readTimes(existing?.config ?? {}), ctx, call.what);
  const times = { ...refresh.times, [snap.name]: new Date(snap.createdAt).toISOString() };
  // Again after either path: a refresh brings the source's config along.
  await lxc.run(["config", "set", dest.ref, ...mark, `${TIMES_KEY}=${JSON.stringify(times)}`], { ...call, what: `turn boot.autostart off on ${dest.ref}` });
  await clearExpiries(lxc, dest, call);

  const notes = ["autostart off", `profiles copied: ${sync.copied.length ? sync.copied.join(", ") : "none"}`];
  if (sync.differing.length) notes.push(`${sync.differing.length} profile(s) differ there, not overwritten`);
  if (refresh.kept.length) notes.push(`kept as they left ${at.ref}: ${refresh.kept.join(", ")}`);
  const how = existing ? `refreshed ${dest.ref} from ${at.ref} and set it to ${snap.name}` : `copied ${at.ref}/${snap.name} to ${dest.ref}`;
  return { summary: `${how} (${notes.join("; ")})`, refreshed: !!existing, warnings: sync.differing };
}

function checkRefreshable(at: InstanceRef, snapName: string, dest: InstanceRef, existing: { status: string; config: Record<string, string> }): void {
  const from = existing.config[SOURCE_KEY];
  if (from !== undefined && from !== at.ref)
    throw new UserError("target_taken", `${dest.ref} is a copy of ${from}, not of ${at.ref}: pick another name (copy ${at.ref}/${snapName} ${dest.remote}:<name>)`);
  if (isKeptCopy(existing.config))
    throw new UserError("target_taken", `${dest.ref} is a kept copy of an older snapshot of ${at.ref}: pick another name (copy ${at.ref}/${snapName} ${dest.remote}:<name>)`);
  if (existing.status !== "Stopped")
    throw new UserError("target_running", `${dest.ref} is ${existing.status.toLowerCase()} on ${dest.remote}: stop it there before refreshing the copy (lxc stop ${dest.ref})`);
}

/**
 * LXD 5.0: `lxc copy web-1/s2 snap:web-1 --refresh` fails ("--refresh can only be used with instances"),
 * so the instance is refreshed (`lxc copy web-1 snap:web-1 --refresh`: rootfs and every snapshot, sent
 * incrementally), then the target is restored to the requested snapshot: like a first copy, its content
 * is the snapshot's, not whatever web-1 holds right now — and the older snapshots come along. Returns the
 * instances the doomed copies were kept as, and the creation times of the copies that stayed snapshots.
 */
async function refreshCopy(
  lxc: LxcClient,
  at: InstanceRef,
  snapName: string,
  dest: InstanceRef,
  times: Times,
  ctx: DriverContext,
  what: string,
): Promise<{ kept: string[]; times: Times }> {
  const call = { what, signal: ctx.signal };
  const [mine, theirs] = await Promise.all([listSnapshots(lxc, at, call), listSnapshots(lxc, dest, call)]);
  const doomed = doomedBy(theirs, mine);
  if (doomed.length) ctx.progress({ stage: "keeping copies", message: `${doomed.length} that ${at.ref} no longer has` });
  const kept = await keepDoomed(lxc, at, dest, doomed, times, call);
  ctx.progress({ stage: "refreshing" });
  await lxc.run(["copy", at.ref, dest.ref, "--refresh"], call);
  if (!(await findSnapshot(lxc, dest, snapName, call)))
    throw new BackendError("snapshot_missing", `${what} failed: the refresh did not bring ${snapName} to ${dest.ref}`);
  ctx.progress({ stage: "restoring", message: `${dest.ref} to ${snapName}` });
  await lxc.run(["restore", dest.ref, snapName], call);
  // The times of the snapshots the refresh left in place (those the source still has); the doomed moved with their copies.
  const stayed = new Set(mine.map((s) => s.name).filter((n) => !doomed.some((d) => d.name === n)));
  return { kept, times: Object.fromEntries(Object.entries(times).filter(([n]) => stayed.has(n))) };
}

function checkTarget(target: CopyTarget): void {
  // Both become argv items: a "-" at the start would be read as an lxc flag.
  if (!REMOTE_PATTERN.test(target.remote))
    throw new UserError("bad_remote", `"${target.remote}" is not an LXD remote name (letters, digits, '.', '_' or '-'); see lxc remote list`);
  if (!NAME_PATTERN.test(target.name))
    throw new UserError("bad_name", `"${target.name}" is not a valid instance name: use 1–63 letters, digits, '.', '_' or '-' (e.g. web-1)`);
}
