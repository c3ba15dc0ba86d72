import { lstat, readdir, realpath, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { UserError } from "../../errors.ts";
import { checkName } from "../../names.ts";
import type { Leftover, SnapshotHandle } from "../driver.ts";
import { MANIFEST_FILE } from "./manifest.ts";
import { PARTS_DIR } from "./part-writer.ts";
import { README_FILE } from "./readme.ts";
import { EXPORT_FILES, EXPORT_TEMP_PREFIX } from "./export-archive.ts";

// Where a snapshot lives: <storage>/<server>/<snapshot>/. Names are re-checked here because they become
// path segments, and delete double-checks where it is about to recurse.

const OWN_ENTRIES = new Set([MANIFEST_FILE, `${MANIFEST_FILE}.tmp`, README_FILE, PARTS_DIR, ...EXPORT_FILES]);

export function snapshotFolder(storageDir: string, server: string, name: string): string {
  return resolve(storageDir, checkName("server", server), checkName("snapshot", name));
}

/** The handle's recorded location if it has one (storage.path may have moved since), else the computed one. */
export function folderOf(storageDir: string, snap: SnapshotHandle): string {
  return snap.location ? resolve(snap.location) : snapshotFolder(storageDir, snap.server, snap.name);
}

export async function leftoverIn(folder: string): Promise<Leftover> {
  if (!(await exists(folder))) return "nothing";
  return (await exists(join(folder, MANIFEST_FILE))) ? "complete" : "partial";
}

/**
 * Removes a snapshot folder, idempotently. Refuses anything that is not exactly
 * <storage>/<server>/<snapshot> once symlinks are resolved, or that holds files snapbot never writes:
 * a misconfigured storage.path or a planted symlink must not turn delete into `rm -rf` elsewhere.
 */
export async function removeSnapshotFolder(storageDir: string, snap: SnapshotHandle): Promise<void> {
  const folder = folderOf(storageDir, snap);
  const expected = snapshotFolder(storageDir, snap.server, snap.name);
  const info = await lstat(folder).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? null : Promise.reject(e)));
  if (!info) return;
  const storageReal = await realpath(storageDir).catch(() => resolve(storageDir));
  const real = await realpath(folder);
  const wanted = join(storageReal, snap.server, snap.name);
  if (folder !== expected || real !== wanted || !info.isDirectory()) refuse(folder, `it is not ${wanted}`);
  const strangers = (await readdir(folder)).filter((e) => !OWN_ENTRIES.has(e) && !e.startsWith(EXPORT_TEMP_PREFIX));
  if (strangers.length > 0) refuse(folder, `it holds files snapbot did not write (${strangers.slice(0, 3).join(", ")})`);
  await rm(folder, { recursive: true, force: true });
}

function refuse(folder: string, why: string): never {
  throw new UserError("unsafe_delete", `refusing to delete ${folder}: ${why}; remove it by hand if it really is a snapshot`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}
