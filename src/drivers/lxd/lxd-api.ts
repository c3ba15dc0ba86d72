import { z } from "zod";
import { BackendError } from "../../errors.ts";
import type { BackendSnapshot } from "../driver.ts";
import type { LxcCall, LxcClient } from "./lxc-client.ts";
import { apiPath, seg, type InstanceRef } from "./lxd-settings.ts";

// The few fields of LXD's REST answers the driver reads, validated (unknown fields dropped).

const snapshotSchema = z.object({
  name: z.string(),
  created_at: z.string(),
  expires_at: z.string().nullish(),
  stateful: z.boolean().default(false),
  size: z.number().nullish(), // -1 where the storage driver cannot tell (dir)
  profiles: z.array(z.string()).default([]),
});
export type LxdSnapshot = z.infer<typeof snapshotSchema>;

const instanceSchema = z.object({
  name: z.string(),
  status: z.string(), // "Running", "Stopped", "Frozen"…
  profiles: z.array(z.string()).default([]),
  config: z.record(z.string(), z.string()).default({}),
  created_at: z.string().nullish(),
});
export type LxdInstance = z.infer<typeof instanceSchema>;

const profileSchema = z.object({
  name: z.string(),
  config: z.record(z.string(), z.string()).default({}),
  devices: z.record(z.string(), z.record(z.string(), z.string())).default({}),
});
export type LxdProfile = z.infer<typeof profileSchema>;

const snapshotPath = (at: InstanceRef, name: string) => apiPath(at.remote, `/1.0/instances/${seg(at.instance)}/snapshots/${seg(name)}`);
const instancePath = (remote: string | undefined, name: string) => apiPath(remote, `/1.0/instances/${seg(name)}`);

export async function findSnapshot(lxc: LxcClient, at: InstanceRef, name: string, call: LxcCall): Promise<LxdSnapshot | undefined> {
  const raw = await lxc.find(snapshotPath(at, name), call, "snapshot_missing");
  return raw === undefined ? undefined : snapshotSchema.parse(raw);
}

export async function listSnapshots(lxc: LxcClient, at: InstanceRef, call: LxcCall): Promise<LxdSnapshot[]> {
  const raw = await lxc.query(apiPath(at.remote, `/1.0/instances/${seg(at.instance)}/snapshots?recursion=1`), call);
  return z.array(snapshotSchema).parse(raw);
}

export async function getInstance(lxc: LxcClient, remote: string | undefined, name: string, call: LxcCall): Promise<LxdInstance> {
  return instanceSchema.parse(await lxc.query(instancePath(remote, name), call));
}

/** Every instance of a daemon with its config, in one call (`?recursion=1`). */
export async function listInstances(lxc: LxcClient, remote: string | undefined, call: LxcCall): Promise<LxdInstance[]> {
  return z.array(instanceSchema).parse(await lxc.query(apiPath(remote, "/1.0/instances?recursion=1"), call));
}

export async function findInstance(lxc: LxcClient, remote: string | undefined, name: string, call: LxcCall): Promise<LxdInstance | undefined> {
  const raw = await lxc.find(instancePath(remote, name), call, "instance_missing");
  return raw === undefined ? undefined : instanceSchema.parse(raw);
}

export async function findProfile(lxc: LxcClient, remote: string | undefined, name: string, call: LxcCall): Promise<LxdProfile | undefined> {
  const raw = await lxc.find(apiPath(remote, `/1.0/profiles/${seg(name)}`), call, "not_found");
  return raw === undefined ? undefined : profileSchema.parse(raw);
}

/** LXD's "never" for an expiry: the zero time. */
export const NO_EXPIRY = "0001-01-01T00:00:00Z";

/** Sets a snapshot's expiry (LXD's own, so LXD prunes it even if the bot is down); null: never. */
export async function setSnapshotExpiry(lxc: LxcClient, at: InstanceRef, name: string, expiresAt: number | null, call: LxcCall): Promise<void> {
  const data = JSON.stringify({ expires_at: expiresAt === null ? NO_EXPIRY : new Date(expiresAt).toISOString() });
  await lxc.run(["query", "--wait", "-X", "PATCH", snapshotPath(at, name), "--data", data], call);
}

/**
 * Creates a snapshot with one API call that waits for LXD's operation: `lxc query -X POST --wait`
 * (what `lxc snapshot` does, plus the expiry in the same request). Resolves only on status Success.
 */
export async function postSnapshot(lxc: LxcClient, at: InstanceRef, body: { name: string; stateful: boolean; expires_at?: string }, call: LxcCall): Promise<void> {
  const out = await lxc.run(["query", "-X", "POST", "--wait", apiPath(at.remote, `/1.0/instances/${seg(at.instance)}/snapshots`), "--data", JSON.stringify(body)], call);
  const op = z.object({ status: z.string(), err: z.string().optional() }).safeParse(JSON.parse(out || "{}"));
  if (!op.success || op.data.status !== "Success")
    throw new BackendError("snapshot_failed", `${call.what} failed: LXD's operation ended ${op.success ? op.data.status : "without a status"}${op.success && op.data.err ? `: ${op.data.err}` : ""}`);
}

/** LXD's timestamps; its "never" is the zero time 0001-01-01. */
export function lxdTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) || t <= 0 ? null : t;
}

export function sizeOf(s: LxdSnapshot): number | null {
  return typeof s.size === "number" && s.size >= 0 ? s.size : null;
}

export function toBackendSnapshot(s: LxdSnapshot): BackendSnapshot {
  return { name: s.name, createdAt: lxdTime(s.created_at) ?? 0, expiresAt: lxdTime(s.expires_at), stateful: s.stateful, size: sizeOf(s) };
}
