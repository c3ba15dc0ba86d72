import { pipeline } from "node:stream";
import type { DriverContext, RestoreDescription, RestoreOptions, SnapshotHandle } from "../driver.ts";
import type { PartStore } from "../../storage/part-store.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { DECRYPTED_FIRST, describeStored, plainStream, verifiedManifest } from "../../storage/kit/read-stored.ts";
import { createArchiveCheck } from "./archive-check.ts";
import type { ConsulClient } from "./consul-client.ts";
import { ConsulError, ConsulUserError } from "./consul-errors.ts";
import { manifestSchema, type Manifest } from "./consul-manifest.ts";

// restore: PUT /v1/snapshot of a snapshot that verified again first (every part re-hashed, decrypted to its
// end), its archive checked once more on the way out. Consul replaces the whole cluster state: disruptive,
// never selective. A cluster running another Consul version than the one the snapshot came from is refused
// unless --force (Raft state written by one version is not promised to load in another).

export interface ConsulDestination {
  name: string; // the server written: this one, or restore --to's
  address: string;
}

function refuseOptions(snap: SnapshotHandle, opts: RestoreOptions): void {
  if (opts.target)
    throw new ConsulUserError("target_refused", `${snap.server}/${snap.name}: a Consul snapshot restores into a cluster, not a folder: drop --target`);
}

function versionCheck(m: Manifest, cluster: string, dest: ConsulDestination, opts: RestoreOptions, snapRef: string): string | null {
  const from = m.consul.consul_version;
  if (from === cluster) return null;
  const line = `${snapRef} was taken from Consul ${from}; ${dest.name} runs Consul ${cluster}`;
  if (!opts.force) throw new ConsulUserError("version_mismatch", `${line}: restore refused; type restore ${snapRef}${opts.to ? ` --to ${opts.to}` : ""} --force to restore anyway`);
  return `${line} (--force: restored anyway)`;
}

export async function describeConsulRestore(store: PartStore, snap: SnapshotHandle, opts: RestoreOptions, dest: ConsulDestination, client: ConsulClient, atRest: AtRest): Promise<RestoreDescription> {
  refuseOptions(snap, opts);
  const m = await describeStored(store, snap, manifestSchema, atRest);
  const cluster = await client.agentSelf(AbortSignal.timeout(30_000));
  const ref = `${snap.server}/${snap.name}`;
  const forced = versionCheck(m, cluster.version, dest, opts, ref);
  const c = m.consul;
  const notes = [
    "disruptive: Consul replaces its whole state (KV, catalog, sessions, prepared queries, ACLs) with the snapshot's; it cannot restore only part of it",
    "keep the cluster's servers stable while it runs: Consul is not built to handle a server failing during a restore",
    "every part is verified again first, and the archive checked as Consul's CLI does",
    ...(c.stale ? [`the snapshot is stale: it was taken from a follower without a leader (last contact ${c.last_contact_ms ?? "?"} ms before)`] : []),
    ...(forced ? [forced] : []),
    ...(m.encryption ? [DECRYPTED_FIRST] : []),
  ];
  const writes = `the whole state of ${dest.name} (Consul ${cluster.version} at ${dest.address}) ← Index ${c.meta.index}, Term ${c.meta.term}, ID ${c.meta.id} (Consul ${c.consul_version})`;
  return { writes, notes, bytes: m.archive_size };
}

export async function restoreConsul(store: PartStore, snap: SnapshotHandle, opts: RestoreOptions, dest: ConsulDestination, client: ConsulClient, ctx: DriverContext, atRest: AtRest): Promise<string> {
  refuseOptions(snap, opts);
  const m = await verifiedManifest(store, snap, manifestSchema, atRest, ctx);
  const cluster = await client.agentSelf(ctx.signal);
  const forced = versionCheck(m, cluster.version, dest, opts, `${snap.server}/${snap.name}`);
  const plain = plainStream(store, snap, m, atRest);
  const check = createArchiveCheck();
  pipeline(plain.stream, check.stream, () => {});
  ctx.progress({ stage: "restoring", totalBytes: m.total.size });
  try {
    await client.restore(check.stream, ctx.signal);
  } catch (e) {
    const why = plain.failure();
    if (why) throw new ConsulError("archive_invalid", `${snap.server}/${snap.name} could not be read back while restoring: ${(why as Error).message}`, { cause: why });
    throw e;
  }
  const c = m.consul;
  return `restored ${snap.server}/${snap.name} onto ${dest.name} (Index ${c.meta.index}, Term ${c.meta.term}, from Consul ${c.consul_version})${forced ? `; ${forced}` : ""}`;
}
