import type { CopyResult, CopyTarget, DriverContext, SnapshotHandle } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import { NAME_PATTERN } from "../../names.ts";
import type { LxcClient } from "./lxc-client.ts";
import { findInstance, findSnapshot, getInstance } from "./lxd-api.ts";
import { onRemote, type InstanceRef } from "./lxd-settings.ts";
import { syncProfiles } from "./profile-sync.ts";

// The seed's snapshot-server walk-through as one operation: profiles first, `lxc copy <inst>/<snap>
// <remote>:<name>`, then boot.autostart 0 so the copy cannot start (and take production's addresses)
// when the snapshot server reboots. The first copy makes the target from the snapshot; a later one
// refreshes it, since LXD 5.0 refuses `--refresh` with a snapshot as the source (see refreshCopy).

/** Remembers which instance a copy came from, so a refresh never overwrites an unrelated instance. */
const SOURCE_KEY = "user.snapbot.source";
const REMOTE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function copySnapshot(lxc: LxcClient, at: InstanceRef, snap: SnapshotHandle, target: CopyTarget, ctx: DriverContext): Promise<CopyResult> {
  checkTarget(target);
  const dest = onRemote(target.remote, target.name);
  const call = { what: `copy ${at.ref}/${snap.name} to ${dest}`, signal: ctx.signal };
  const source = await findSnapshot(lxc, at, snap.name, call);
  if (!source) throw new BackendError("snapshot_missing", `${call.what} failed: LXD has no snapshot ${snap.name} of ${at.ref}`);
  const instance = await getInstance(lxc, at.remote, at.instance, call);

  ctx.progress({ stage: "profiles" });
  const profiles = [...new Set([...instance.profiles, ...source.profiles])];
  const sync = await syncProfiles(lxc, at.remote, target.remote, profiles, call);

  const existing = await findInstance(lxc, target.remote, target.name, call);
  const mark = [`boot.autostart=0`, `${SOURCE_KEY}=${at.ref}`];
  if (!existing) {
    ctx.progress({ stage: "copying" });
    // Created with autostart off: there is no moment where a reboot of the snapshot server starts it.
    await lxc.run(["copy", `${at.ref}/${snap.name}`, dest, ...mark.flatMap((m) => ["-c", m])], call);
  } else {
    await refreshCopy(lxc, at, snap.name, { remote: target.remote, name: target.name, dest }, existing, ctx, call.what);
  }
  // Again after either path: a refresh brings the source's config along.
  await lxc.run(["config", "set", dest, ...mark], { ...call, what: `turn boot.autostart off on ${dest}` });

  const notes = ["autostart off", `profiles copied: ${sync.copied.length ? sync.copied.join(", ") : "none"}`];
  if (sync.differing.length) notes.push(`${sync.differing.length} profile(s) differ there, not overwritten`);
  const how = existing ? `refreshed ${dest} from ${at.ref} and set it to ${snap.name}` : `copied ${at.ref}/${snap.name} to ${dest}`;
  return { summary: `${how} (${notes.join("; ")})`, refreshed: !!existing, warnings: sync.differing };
}

/**
 * LXD 5.0: `lxc copy web-1/s2 snap:web-1 --refresh` fails ("--refresh can only be used with instances"),
 * so the instance is refreshed (`lxc copy web-1 snap:web-1 --refresh`: rootfs and every snapshot, sent
 * incrementally), then the target is restored to the requested snapshot: like a first copy, its content
 * is the snapshot's, not whatever web-1 holds right now — and the older snapshots come along.
 */
async function refreshCopy(
  lxc: LxcClient,
  at: InstanceRef,
  snapName: string,
  target: { remote: string; name: string; dest: string },
  existing: { status: string; config: Record<string, string> },
  ctx: DriverContext,
  what: string,
): Promise<void> {
  const call = { what, signal: ctx.signal };
  const from = existing.config[SOURCE_KEY];
  if (from !== undefined && from !== at.ref)
    throw new UserError("target_taken", `${target.dest} is a copy of ${from}, not of ${at.ref}: pick another name (copy ${at.ref}/${snapName} ${target.remote}:<name>)`);
  if (existing.status !== "Stopped")
    throw new UserError("target_running", `${target.dest} is ${existing.status.toLowerCase()} on ${target.remote}: stop it there before refreshing the copy (lxc stop ${target.dest})`);
  ctx.progress({ stage: "refreshing" });
  await lxc.run(["copy", at.ref, target.dest, "--refresh"], call);
  if (!(await findSnapshot(lxc, { instance: target.name, remote: target.remote, ref: target.dest }, snapName, call)))
    throw new BackendError("snapshot_missing", `${what} failed: the refresh did not bring ${snapName} to ${target.dest}`);
  ctx.progress({ stage: "restoring", message: `${target.dest} to ${snapName}` });
  await lxc.run(["restore", target.dest, snapName], call);
}

function checkTarget(target: CopyTarget): void {
  // Both become argv items: a "-" at the start would be read as an lxc flag.
  if (!REMOTE_PATTERN.test(target.remote))
    throw new UserError("bad_remote", `"${target.remote}" is not an LXD remote name (letters, digits, '.', '_' or '-'); see lxc remote list`);
  if (!NAME_PATTERN.test(target.name))
    throw new UserError("bad_name", `"${target.name}" is not a valid instance name: use 1–63 letters, digits, '.', '_' or '-' (e.g. web-1)`);
}
