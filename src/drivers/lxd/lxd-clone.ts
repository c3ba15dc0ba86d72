import type { DriverContext, SnapshotHandle } from "../driver.ts";
import { BackendError, UserError } from "../../errors.ts";
import { NAME_PATTERN } from "../../names.ts";
import type { LxcClient } from "./lxc-client.ts";
import { findSnapshot, getInstance } from "./lxd-api.ts";
import { onRemote, type InstanceRef, type LxdServer } from "./lxd-settings.ts";

// A new instance from a snapshot, on the same daemon as the source, started when the source runs.
// It carries the source's SSH host keys: the engine compares fingerprints and raises the alert.

export async function cloneSnapshot(
  lxc: LxcClient,
  settings: LxdServer,
  at: InstanceRef,
  snap: SnapshotHandle,
  newServer: string,
  ctx: DriverContext,
): Promise<{ settings: Record<string, unknown> }> {
  if (!NAME_PATTERN.test(newServer)) throw new UserError("bad_name", `"${newServer}" is not a valid instance name (e.g. web-2)`);
  const dest = onRemote(at.remote, newServer);
  const call = { what: `clone ${at.ref}/${snap.name} to ${dest}`, signal: ctx.signal };
  if (!(await findSnapshot(lxc, at, snap.name, call)))
    throw new BackendError("snapshot_missing", `${call.what} failed: LXD has no snapshot ${snap.name} of ${at.ref}`);
  ctx.progress({ stage: "copying" });
  await lxc.run(["copy", `${at.ref}/${snap.name}`, dest], call);
  const source = await getInstance(lxc, at.remote, at.instance, call);
  if (source.status === "Running") {
    ctx.progress({ stage: "starting" });
    await lxc.run(["start", dest], { ...call, what: `start ${dest}` });
  }
  return { settings: cloneSettings(settings, newServer) };
}

/** The new server's settings: same daemon, client config and snapshot server as its source. */
function cloneSettings(s: LxdServer, instance: string): Record<string, unknown> {
  const out: Record<string, unknown> = { instance };
  if (s.remote) out.remote = s.remote;
  if (s.snapshot_server) out.snapshot_server = s.snapshot_server;
  if (s.lxd_conf) out.lxd_conf = s.lxd_conf;
  if (s.lxd_dir) out.lxd_dir = s.lxd_dir;
  out.limit = s.limit;
  return out;
}
