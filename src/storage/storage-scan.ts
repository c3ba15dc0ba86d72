import type { StoredSnapshot } from "../drivers/driver.ts";
import { readManifest, type ManifestSchema, type StoredManifest } from "./manifest.ts";
import type { PartStore, SnapshotKey } from "./part-store.ts";
import { checkParts } from "./verify-parts.ts";

// storage scan: every <server>/<snapshot> in the store, described by its own files, so snapshots a lost
// ledger forgot can be adopted (complete ones) or removed. Only names snapbot could have written are
// looked at (store.list); anything else in storage is not ours to judge. Cheap: manifests and sizes, no hashing.

/** What the driver records as a snapshot's details, from its own manifest. */
export type DescribeManifest<M> = (m: M) => Record<string, unknown>;

export async function scanStorage<M extends StoredManifest>(
  store: PartStore,
  schema: ManifestSchema<M>,
  details: DescribeManifest<M>,
): Promise<StoredSnapshot[]> {
  const found: StoredSnapshot[] = [];
  for (const key of await store.list()) found.push(await inspect(store, key, schema, details));
  return found;
}

async function inspect<M extends StoredManifest>(
  store: PartStore,
  key: SnapshotKey,
  schema: ManifestSchema<M>,
  details: DescribeManifest<M>,
): Promise<StoredSnapshot> {
  const { server, name } = key;
  const location = store.where(key);
  const none = { server, name, location, size: null, checksum: null, parts: [], createdAt: null, finishedAt: null };
  const read = await readManifest(store, key, schema);
  if (read.state === "missing") return { ...none, status: "partial", problem: "no manifest.json: the write never completed" };
  if (read.state === "invalid") return { ...none, status: "invalid", problem: read.problem };
  const m = read.manifest;
  if (m.server !== server || m.snapshot !== name)
    return { ...none, status: "invalid", problem: `its manifest.json is for ${m.server}/${m.snapshot}, not ${server}/${name}` };
  const described = {
    server: m.server,
    name: m.snapshot,
    location,
    size: m.total.size,
    checksum: `sha256:${m.total.sha256}`,
    parts: m.parts,
    createdAt: timeOf(m.created_at),
    finishedAt: timeOf(m.finished_at),
    details: details(m),
  };
  const check = await checkParts(store, key, schema, described);
  if (!check.ok) return { ...none, status: "invalid", problem: check.problems.slice(0, 3).join("; ") };
  return { ...described, status: "complete", problem: null };
}

const timeOf = (iso: string): number | null => {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
};
