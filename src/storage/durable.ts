import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";

// What "written" means for a snapshot: with fsync on, the data and the directory entries naming it are on
// disk before the manifest says the snapshot is complete.

export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Creates a file readable by its owner only (mode set at open) and optionally fsyncs it. */
export async function writeNewFile(path: string, data: string, fsync: boolean): Promise<void> {
  const h = await open(path, "wx", 0o600);
  try {
    await h.writeFile(data, "utf8");
    if (fsync) await h.sync();
  } finally {
    await h.close();
  }
}

/** tmp + fsync + rename: readers see the old state or the whole new file, never half of it. */
export async function writeFileAtomic(path: string, data: string, fsync: boolean): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeNewFile(tmp, data, fsync);
  if (fsync) await fsyncDir(dirname(path));
  await rename(tmp, path);
  if (fsync) await fsyncDir(dirname(path));
}
