import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { StoredSnapshot } from "../driver.ts";
import { NAME_PATTERN } from "../../names.ts";
import { readManifest, type Manifest } from "./manifest.ts";
import { snapshotFolder } from "./snapshot-folder.ts";
import { checkParts } from "./verify-parts.ts";

// storage scan: every <storage>/<server>/<snapshot> folder, described by its own files, so snapshots a
// lost ledger forgot can be adopted (complete ones) or removed. Only names snapbot could have written are
// looked at; anything else in storage is not ours to judge. Cheap: manifests and file sizes, no hashing.

export async function scanStorage(storageDir: string): Promise<StoredSnapshot[]> {
  const found: StoredSnapshot[] = [];
  for (const server of await folders(storageDir))
    for (const name of await folders(join(storageDir, server))) found.push(await inspect(storageDir, server, name));
  return found;
}

async function inspect(storageDir: string, server: string, name: string): Promise<StoredSnapshot> {
  const location = snapshotFolder(storageDir, server, name);
  const none = { server, name, location, size: null, checksum: null, parts: [], createdAt: null, finishedAt: null };
  const read = await readManifest(location);
  if (read.state === "missing") return { ...none, status: "partial", problem: "no manifest.json: the write never completed" };
  if (read.state === "invalid") return { ...none, status: "invalid", problem: read.problem };
  const m = read.manifest;
  if (m.server !== server || m.snapshot !== name)
    return { ...none, status: "invalid", problem: `its manifest.json is for ${m.server}/${m.snapshot}, not ${server}/${name}` };
  const described = describe(location, m);
  const check = await checkParts(location, described);
  if (!check.ok) return { ...none, status: "invalid", problem: check.problems.slice(0, 3).join("; ") };
  return { ...described, status: "complete", problem: null };
}

function describe(location: string, m: Manifest): Omit<StoredSnapshot, "status" | "problem"> {
  return {
    server: m.server,
    name: m.snapshot,
    location,
    size: m.total.size,
    checksum: `sha256:${m.total.sha256}`,
    parts: m.parts,
    createdAt: timeOf(m.created_at),
    finishedAt: timeOf(m.finished_at),
    details: { format: m.format, mode: m.mode, compression: m.compression, part_size: m.part_size, source: m.source },
  };
}

const timeOf = (iso: string): number | null => {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
};

async function folders(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) =>
    e.code === "ENOENT" ? [] : Promise.reject(e),
  );
  return entries.filter((e) => e.isDirectory() && NAME_PATTERN.test(e.name) && !e.name.includes("..")).map((e) => e.name).sort();
}
