import { createHash } from "node:crypto";
import type { DriverContext, RemoteCopy } from "../driver.ts";
import { BackendError } from "../../errors.ts";
import type { LxcCall, LxcClient } from "./lxc-client.ts";
import { findInstance, listInstances, listSnapshots, lxdTime, setSnapshotExpiry, type LxdInstance, type LxdSnapshot } from "./lxd-api.ts";
import { onRemote, type InstanceRef } from "./lxd-settings.ts";

// The copies on the snapshot server outlive the source's snapshots. LXD's `copy --refresh` makes the target's
// snapshots match the source's: it deletes every target snapshot the source no longer has, or has re-made
// under the same name (lxd #14473). So before a refresh each of those is kept as an instance of its own
// there (a copy inside the snapshot server: nothing crosses the network), marked as the copy it is; after
// it, the expiry LXD brought along from the source is cleared. What stays is the snapshot server's own
// keep's to decide (snapshot_server_keep), never the source's retention.

/** On every instance snapbot makes on a snapshot server: the source it came from, so nothing else is touched. */
export const SOURCE_KEY = "user.snapbot.source";
/** On a kept copy: the snapshot it is a copy of. */
const COPY_OF = "user.snapbot.copy_of";
/** On a kept copy: when that snapshot was taken. */
const TAKEN_AT = "user.snapbot.created_at";
/**
 * On the refreshed copy: JSON, snapshot name → when it was taken as the ledger says (retention counts from
 * that, as it does for the source). A refresh replaces the instance's config, so it is written again after each.
 */
export const TIMES_KEY = "user.snapbot.created";

export type Times = Record<string, string>;

export const isKeptCopy = (config: Record<string, string>): boolean => config[COPY_OF] !== undefined;

export function readTimes(config: Record<string, string>): Times {
  try {
    const v: unknown = JSON.parse(config[TIMES_KEY] ?? "{}");
    if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string" && lxdTime(e[1]) !== null));
  } catch {
    return {}; // edited by hand into something else: LXD's own times are used
  }
}

/** LXD keeps a copied snapshot's creation time to the second; two snapshots are the same one when both agree. */
const sameSnapshot = (a: LxdSnapshot, b: LxdSnapshot) => a.name === b.name && Math.floor((lxdTime(a.created_at) ?? 0) / 1000) === Math.floor((lxdTime(b.created_at) ?? 0) / 1000);

/** The target's snapshots a refresh from `source` would delete (LXD's CompareSnapshots: name and creation time). */
export function doomedBy(target: LxdSnapshot[], source: LxdSnapshot[]): LxdSnapshot[] {
  return target.filter((t) => !source.some((s) => sameSnapshot(s, t)));
}

/**
 * The instance a kept copy becomes: `<instance>-<snapshot>`, as LXD allows instance names (letters, digits and
 * '-', at most 63); a snapshot name that does not fit is shortened and given a hash of itself, so two never meet.
 */
export function keptInstanceName(instance: string, snapshot: string): string {
  const slug = snapshot.replace(/[^A-Za-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  const plain = `${instance}-${slug}`;
  if (slug === snapshot && plain.length <= 63) return plain;
  const hash = createHash("sha256").update(snapshot).digest("hex").slice(0, 8);
  return `${instance.slice(0, 30)}-${slug.slice(0, 20)}-${hash}`.replace(/-+/g, "-");
}

/** Keeps each doomed snapshot of `dest` as an instance there, before the refresh; returns their refs. */
export async function keepDoomed(lxc: LxcClient, at: InstanceRef, dest: InstanceRef, doomed: LxdSnapshot[], times: Times, call: LxcCall): Promise<string[]> {
  const kept: string[] = [];
  for (const snap of doomed) {
    const name = keptInstanceName(dest.instance, snap.name);
    const ref = onRemote(dest.remote, name);
    const there = await findInstance(lxc, dest.remote, name, call);
    if (there && there.config[SOURCE_KEY] === at.ref && there.config[COPY_OF] === snap.name) continue; // kept by a copy cut short
    if (there)
      throw new BackendError(
        "target_taken",
        `${call.what} failed: ${dest.ref}/${snap.name} must be kept as ${ref} before the refresh deletes it, but ${ref} is another instance: ` +
          `rename or delete it there (lxc move / lxc delete ${ref}); nothing was refreshed`,
      );
    const takenAt = times[snap.name] ?? snap.created_at;
    const marks = ["boot.autostart=0", `${SOURCE_KEY}=${at.ref}`, `${COPY_OF}=${snap.name}`, `${TAKEN_AT}=${takenAt}`];
    await lxc.run(["copy", `${dest.ref}/${snap.name}`, ref, ...marks.flatMap((m) => ["-c", m])], { ...call, what: `keep ${dest.ref}/${snap.name} as ${ref}` });
    kept.push(ref);
  }
  return kept;
}

/** After a refresh: no copy keeps an expiry the source gave it (LXD on the snapshot server would delete it then). */
export async function clearExpiries(lxc: LxcClient, dest: InstanceRef, call: LxcCall): Promise<number> {
  const expiring = (await listSnapshots(lxc, dest, call)).filter((s) => lxdTime(s.expires_at) !== null);
  for (const s of expiring) await setSnapshotExpiry(lxc, dest, s.name, null, { ...call, what: `clear the expiry of ${dest.ref}/${s.name}` });
  return expiring.length;
}

/** An instance of `remote` snapbot made from `at` (a refreshed copy or a kept one), never the source itself. */
function isOurs(i: LxdInstance, at: InstanceRef, remote: string): boolean {
  const sameDaemon = remote === (at.remote ?? "local");
  return i.config[SOURCE_KEY] === at.ref && !(sameDaemon && i.name === at.instance);
}

/** Every copy of `at` on `remote`: the snapshots of its refreshed copies, and the kept copies. */
export async function listKeptCopies(lxc: LxcClient, at: InstanceRef, remote: string, ctx: DriverContext): Promise<RemoteCopy[]> {
  const call = { what: `list the copies of ${at.ref} on ${remote}`, signal: ctx.signal };
  const out: RemoteCopy[] = [];
  for (const i of (await listInstances(lxc, remote, call)).filter((x) => isOurs(x, at, remote))) {
    const ref = onRemote(remote, i.name);
    const copyOf = i.config[COPY_OF];
    if (copyOf) {
      out.push({ where: ref, snapshot: copyOf, createdAt: lxdTime(i.config[TAKEN_AT]) ?? lxdTime(i.created_at) ?? 0 });
      continue;
    }
    const times = readTimes(i.config);
    for (const s of await listSnapshots(lxc, { instance: i.name, remote, ref }, call))
      out.push({ where: `${ref}/${s.name}`, snapshot: s.name, createdAt: lxdTime(times[s.name]) ?? lxdTime(s.created_at) ?? 0 });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.where.localeCompare(b.where));
}

/** Removes one copy listKeptCopies gave, after checking again that it is one: on `remote`, marked as `at`'s. */
export async function removeKeptCopy(lxc: LxcClient, at: InstanceRef, remote: string, copy: RemoteCopy, ctx: DriverContext): Promise<void> {
  const call = { what: `remove the copy ${copy.where}`, signal: ctx.signal };
  const m = /^([^:/]+):([^:/]+)(?:\/([^:/]+))?$/.exec(copy.where);
  const notOne = (why: string) => new BackendError("not_a_copy", `${call.what} refused: ${why}; it is left as it is`);
  if (!m || m[1] !== remote) throw notOne(`it is not on the snapshot server ${remote}`);
  const [, , instance, snapshot] = m as unknown as [string, string, string, string | undefined];
  const inst = await findInstance(lxc, remote, instance, call);
  if (!inst) return ctx.log.info({ copy: copy.where }, "copy already gone");
  if (!isOurs(inst, at, remote)) throw notOne(`${remote}:${instance} is not a copy snapbot made of ${at.ref}`);
  if (snapshot === undefined) {
    if (inst.config[COPY_OF] !== copy.snapshot) throw notOne(`${remote}:${instance} is not the kept copy of ${copy.snapshot}`);
    await lxc.run(["delete", copy.where], call);
    return;
  }
  if (inst.config[COPY_OF] !== undefined || snapshot !== copy.snapshot) throw notOne(`${copy.where} is not a snapshot of a refreshed copy`);
  try {
    await lxc.run(["delete", copy.where], call);
  } catch (e) {
    if (!(e instanceof BackendError && e.code === "snapshot_missing")) throw e;
  }
  const times = readTimes(inst.config);
  if (snapshot in times) {
    delete times[snapshot];
    await lxc.run(["config", "set", onRemote(remote, instance), `${TIMES_KEY}=${JSON.stringify(times)}`], call);
  }
}
